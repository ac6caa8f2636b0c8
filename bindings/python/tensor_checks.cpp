#include "tensor_checks.hpp"

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit::python {
namespace {

// DLPack 1.1 dtype codes (dlpack.h DLDataTypeCode).
enum DLPackCode : std::uint8_t {
  kDLInt = 0,
  kDLUInt = 1,
  kDLFloat = 2,
  kDLBfloat = 4,
  kDLFloat8_e4m3fn = 10,
  kDLFloat8_e4m3fnuz = 11,
  kDLFloat8_e5m2 = 12,
  kDLFloat8_e5m2fnuz = 13,
};
constexpr int kDLCUDA = 2;

}  // namespace

std::string shape_text(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

DType tensor_dtype(const AnyTensor& tensor, const char* name, DType declared) {
  const auto dtype = tensor.dtype();
  if (dtype.lanes == 1) {
    switch (dtype.code) {
      case kDLFloat:
        if (dtype.bits == 16) return DType::kF16;
        if (dtype.bits == 32) return DType::kF32;
        break;
      case kDLBfloat:
        if (dtype.bits == 16) return DType::kBF16;
        break;
      case kDLInt:
        if (dtype.bits == 32) return DType::kI32;
        break;
      case kDLUInt:
        if (dtype.bits == 8 && is_fp8(declared)) return declared;
        break;
      case kDLFloat8_e4m3fn: return DType::kE4M3;
      case kDLFloat8_e5m2: return DType::kE5M2;
      case kDLFloat8_e4m3fnuz: return DType::kE4M3FNUZ;
      case kDLFloat8_e5m2fnuz: return DType::kE5M2FNUZ;
      default: break;
    }
  }
  throw InvalidArgument(fmt::format("{}: unsupported tensor dtype (DLPack code {}, {} bits)", name,
                                    static_cast<int>(dtype.code), static_cast<int>(dtype.bits)));
}

std::vector<std::int64_t> check_tensor(const AnyTensor& tensor, const char* name, DType expected,
                                       int rank, int device_id) {
  if (tensor.device_type() != kDLCUDA) {
    throw InvalidArgument(fmt::format("{} must be a CUDA tensor (got DLPack device type {})", name,
                                      tensor.device_type()));
  }
  if (device_id >= 0 && tensor.device_id() != device_id) {
    throw InvalidArgument(fmt::format("{} is on cuda:{} but the other tensors are on cuda:{}",
                                      name, tensor.device_id(), device_id));
  }
  const DType actual = tensor_dtype(tensor, name, expected);
  if (actual != expected) {
    throw InvalidArgument(fmt::format("{} has dtype {} but {} was expected{}", name,
                                      short_name(actual), short_name(expected),
                                      is_fp8(expected) ? " (or a uint8 view of it)" : ""));
  }
  std::vector<std::int64_t> shape(tensor.ndim());
  for (std::size_t i = 0; i < tensor.ndim(); ++i) shape[i] = tensor.shape(i);
  if (static_cast<int>(tensor.ndim()) != rank) {
    throw InvalidArgument(fmt::format("{} must have {} dimensions, got shape {}", name, rank,
                                      shape_text(shape)));
  }
  if (rank > 0 && tensor.shape(rank - 1) > 1 && tensor.stride(rank - 1) != 1) {
    throw InvalidArgument(fmt::format("{}: the last dimension must be contiguous (stride 1), got "
                                      "stride {}",
                                      name, tensor.stride(rank - 1)));
  }
  return shape;
}

}  // namespace kjit::python
