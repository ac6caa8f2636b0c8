// Tensors arriving from Python, seen through one TensorView whatever produced them, and their
// validation: every error is a ValueError (kjit::InvalidArgument) naming the argument and what
// was expected.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include "dtype.hpp"

namespace kjit::python {

namespace nb = nanobind;

// A shape or a stride list, held inline: run() reads several tensors per call and must not
// allocate on the host.
class Dims {
 public:
  static constexpr int kMax = 8;
  Dims() = default;
  Dims(std::initializer_list<std::int64_t> values);
  void push_back(std::int64_t value);
  int size() const { return size_; }
  std::int64_t operator[](int i) const { return values_[static_cast<std::size_t>(i)]; }
  bool operator==(const Dims& other) const;
  bool operator!=(const Dims& other) const { return !(*this == other); }

 private:
  std::array<std::int64_t, kMax> values_{};
  int size_ = 0;
};

// What kjit needs of a tensor. PyTorch tensors are read directly (pointer, shape, strides,
// dtype: a few attribute reads); anything else goes through DLPack (CuPy, JAX, ...), whose
// capsule is kept alive by `dlpack`.
struct TensorView {
  void* data = nullptr;
  std::optional<DType> dtype;  // nullopt: a dtype kjit has no name for
  bool raw_bytes = false;      // uint8: accepted as the declared FP8 dtype (uint8-view fallback)
  bool is_cuda = false;
  int device_id = -1;
  Dims shape;
  Dims strides;  // in elements
  nb::ndarray<> dlpack;
};

// Throws ValueError naming `name` if `object` is not a tensor.
TensorView view_tensor(nb::handle object, const char* name);

// Checks device, dtype (raw uint8 counts as `expected` when that is FP8), rank and that the last
// dimension is contiguous. device_id < 0 accepts any CUDA device.
void check_tensor(const TensorView& tensor, const char* name, DType expected, int rank,
                  int device_id);

// "[2, 64, 128]"
std::string shape_text(const Dims& shape);

// True for a torch.Tensor (without importing torch: only once the host has imported it).
bool is_torch_tensor(nb::handle object);

// The CUDA stream a launch should use, as a cudaStream_t value: `stream` itself when it is an
// int or a torch/CuPy stream object; when None, the current stream of PyTorch (if `like` is a
// torch tensor) or of CuPy (if the host imported it), else the legacy default stream 0.
std::uintptr_t resolve_stream(nb::handle stream, nb::handle like, int device);

// A new torch tensor like `like` (a torch tensor) with `shape` and `dtype`: run()'s out and lse
// when the caller passes none.
nb::object new_torch_tensor(nb::handle like, const Dims& shape, DType dtype);

}  // namespace kjit::python
