// Tensors arriving from Python, seen through one TensorView whatever produced them, and their
// validation: every error is a ValueError (kjit::InvalidArgument) naming the argument and what
// was expected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include "dtype.hpp"

namespace kjit::python {

namespace nb = nanobind;

// What kjit needs of a tensor. PyTorch tensors are read directly (pointer, shape, strides,
// dtype: a few attribute reads); anything else goes through DLPack (CuPy, JAX, ...), whose
// capsule is kept alive by `dlpack`.
struct TensorView {
  void* data = nullptr;
  std::optional<DType> dtype;  // nullopt: a dtype kjit has no name for
  bool raw_bytes = false;      // uint8: accepted as the declared FP8 dtype (uint8-view fallback)
  bool is_cuda = false;
  int device_id = -1;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;  // in elements
  nb::ndarray<> dlpack;
};

// Throws ValueError naming `name` if `object` is not a tensor.
TensorView view_tensor(nb::handle object, const char* name);

// Checks device, dtype (raw uint8 counts as `expected` when that is FP8), rank and that the last
// dimension is contiguous. device_id < 0 accepts any CUDA device.
void check_tensor(const TensorView& tensor, const char* name, DType expected, int rank,
                  int device_id);

// "[2, 64, 128]"
std::string shape_text(const std::vector<std::int64_t>& shape);

}  // namespace kjit::python
