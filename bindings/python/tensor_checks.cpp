#include "tensor_checks.hpp"

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit::python {
namespace {

// DLPack 1.1 dtype codes (dlpack.h DLDataTypeCode) and device type.
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

// PyTorch's Tensor type and dtype objects, looked up once torch is imported by the host (kjit
// never imports it). Dtypes are compared by identity.
struct TorchTypes {
  nb::object tensor_type;
  std::vector<std::pair<nb::object, DType>> dtypes;
  nb::object uint8;
};

const TorchTypes* torch_types() {
  static std::optional<TorchTypes> cached;
  if (cached) return &*cached;
  PyObject* torch = PyDict_GetItemString(PyImport_GetModuleDict(), "torch");  // borrowed
  if (torch == nullptr) return nullptr;
  nb::handle module(torch);
  if (!nb::hasattr(module, "Tensor") || !nb::hasattr(module, "float8_e4m3fn")) return nullptr;
  TorchTypes types;
  types.tensor_type = module.attr("Tensor");
  for (auto [name, dtype] : {std::pair{"float16", DType::kF16},
                             {"bfloat16", DType::kBF16},
                             {"float32", DType::kF32},
                             {"int32", DType::kI32},
                             {"float8_e4m3fn", DType::kE4M3},
                             {"float8_e5m2", DType::kE5M2},
                             {"float8_e4m3fnuz", DType::kE4M3FNUZ},
                             {"float8_e5m2fnuz", DType::kE5M2FNUZ}}) {
    if (nb::hasattr(module, name)) types.dtypes.emplace_back(module.attr(name), dtype);
  }
  types.uint8 = module.attr("uint8");
  cached = std::move(types);
  return &*cached;
}

bool view_torch(nb::handle object, TensorView& view) {
  const TorchTypes* torch = torch_types();
  if (torch == nullptr || !PyObject_TypeCheck(object.ptr(), reinterpret_cast<PyTypeObject*>(
                                                                torch->tensor_type.ptr()))) {
    return false;
  }
  const nb::object dtype = object.attr("dtype");
  for (const auto& [candidate, kjit_dtype] : torch->dtypes) {
    if (dtype.is(candidate)) view.dtype = kjit_dtype;
  }
  view.raw_bytes = dtype.is(torch->uint8);
  view.device_id = nb::cast<int>(object.attr("get_device")());
  view.is_cuda = view.device_id >= 0 && nb::cast<bool>(object.attr("is_cuda"));
  view.data = reinterpret_cast<void*>(nb::cast<std::uintptr_t>(object.attr("data_ptr")()));
  for (nb::handle size : object.attr("shape")) view.shape.push_back(nb::cast<std::int64_t>(size));
  for (nb::handle stride : object.attr("stride")()) {
    view.strides.push_back(nb::cast<std::int64_t>(stride));
  }
  return true;
}

std::optional<DType> dlpack_dtype(const nb::dlpack::dtype& dtype, bool* raw_bytes) {
  if (dtype.lanes != 1) return std::nullopt;
  switch (dtype.code) {
    case kDLFloat:
      if (dtype.bits == 16) return DType::kF16;
      if (dtype.bits == 32) return DType::kF32;
      return std::nullopt;
    case kDLBfloat:
      return dtype.bits == 16 ? std::optional(DType::kBF16) : std::nullopt;
    case kDLInt:
      return dtype.bits == 32 ? std::optional(DType::kI32) : std::nullopt;
    case kDLUInt:
      *raw_bytes = dtype.bits == 8;
      return std::nullopt;
    case kDLFloat8_e4m3fn:
      return DType::kE4M3;
    case kDLFloat8_e5m2:
      return DType::kE5M2;
    case kDLFloat8_e4m3fnuz:
      return DType::kE4M3FNUZ;
    case kDLFloat8_e5m2fnuz:
      return DType::kE5M2FNUZ;
    default:
      return std::nullopt;
  }
}

}  // namespace

std::string shape_text(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

TensorView view_tensor(nb::handle object, const char* name) {
  TensorView view;
  if (view_torch(object, view)) return view;
  if (!nb::try_cast(object, view.dlpack)) {
    throw InvalidArgument(fmt::format("{} must be a tensor (DLPack or buffer protocol), got {}",
                                      name, nb::type_name(object.type()).c_str()));
  }
  const auto& array = view.dlpack;
  view.data = array.data();
  view.dtype = dlpack_dtype(array.dtype(), &view.raw_bytes);
  view.is_cuda = array.device_type() == kDLCUDA;
  view.device_id = array.device_id();
  for (std::size_t i = 0; i < array.ndim(); ++i) {
    view.shape.push_back(array.shape(i));
    view.strides.push_back(array.stride(i));
  }
  return view;
}

void check_tensor(const TensorView& tensor, const char* name, DType expected, int rank,
                  int device_id) {
  if (!tensor.is_cuda) throw InvalidArgument(fmt::format("{} must be a CUDA tensor", name));
  if (device_id >= 0 && tensor.device_id != device_id) {
    throw InvalidArgument(fmt::format("{} is on cuda:{} but the other tensors are on cuda:{}", name,
                                      tensor.device_id, device_id));
  }
  const bool raw_fp8 = tensor.raw_bytes && is_fp8(expected);
  if (!raw_fp8 && tensor.dtype != expected) {
    throw InvalidArgument(
        fmt::format("{} has dtype {} but {} was expected{}", name,
                    tensor.dtype ? std::string(short_name(*tensor.dtype))
                                 : std::string(tensor.raw_bytes ? "uint8" : "(unsupported)"),
                    short_name(expected), is_fp8(expected) ? " (or a uint8 view of it)" : ""));
  }
  if (static_cast<int>(tensor.shape.size()) != rank) {
    throw InvalidArgument(fmt::format("{} must have {} dimensions, got shape {}", name, rank,
                                      shape_text(tensor.shape)));
  }
  if (rank > 0 && tensor.shape[rank - 1] > 1 && tensor.strides[rank - 1] != 1) {
    throw InvalidArgument(
        fmt::format("{}: the last dimension must be contiguous (stride 1), got stride {}", name,
                    tensor.strides[rank - 1]));
  }
}

}  // namespace kjit::python
