// Validation of DLPack tensors (nb::ndarray) for the Python bindings: every error is a
// ValueError (kjit::InvalidArgument) naming the argument and what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nanobind/ndarray.h>

#include "dtype.hpp"

namespace kjit::python {

namespace nb = nanobind;
using Tensor = nb::ndarray<nb::device::cuda>;
using AnyTensor = nb::ndarray<>;

// What a DLPack dtype holds, as a kjit DType (FP8 included when the producer exports float8
// codes). Raw uint8 is reported as `declared` when `declared` is FP8: the uint8-view fallback
// for producers whose DLPack cannot export float8.
DType tensor_dtype(const AnyTensor& tensor, const char* name, DType declared);

// Checks dtype, rank and that the last dimension is contiguous; returns the shape.
std::vector<std::int64_t> check_tensor(const AnyTensor& tensor, const char* name, DType expected,
                                       int rank, int device_id);

// "[2, 64, 128]"
std::string shape_text(const std::vector<std::int64_t>& shape);

}  // namespace kjit::python
