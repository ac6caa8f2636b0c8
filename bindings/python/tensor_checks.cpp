#include "tensor_checks.hpp"

#include <optional>
#include <utility>
#include <vector>

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

// PyTorch's Tensor type, dtype objects and current-stream getter, looked up once torch is
// imported by the host (kjit never imports it). Dtypes are compared by identity.
struct TorchTypes {
  nb::object tensor_type;
  std::vector<std::pair<nb::object, DType>> dtypes;
  nb::object uint8;
  nb::object current_raw_stream;  // torch._C._cuda_getCurrentRawStream, or None
  nb::object cuda_module;         // torch.cuda, for the public fallback
};

const TorchTypes* torch_types() {
  // Leaked on purpose: destroying it at exit would drop references after the interpreter has
  // finalized (a fatal error once torch's own references are gone).
  static TorchTypes* cached = nullptr;
  if (cached) return cached;
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
  // The raw getter returns the cudaStream_t as an int; torch.cuda.current_stream() would build a
  // Stream object first (a few microseconds).
  types.current_raw_stream =
      nb::getattr(module.attr("_C"), "_cuda_getCurrentRawStream", nb::none());
  types.cuda_module = module.attr("cuda");
  cached = new TorchTypes(std::move(types));
  return cached;
}

// Attribute names, interned once so that each lookup skips making and hashing a string. Never
// released: they live as long as the interpreter.
struct AttributeNames {
  PyObject* dtype = PyUnicode_InternFromString("dtype");
  PyObject* get_device = PyUnicode_InternFromString("get_device");
  PyObject* is_cuda = PyUnicode_InternFromString("is_cuda");
  PyObject* data_ptr = PyUnicode_InternFromString("data_ptr");
  PyObject* shape = PyUnicode_InternFromString("shape");
  PyObject* stride = PyUnicode_InternFromString("stride");
};

const AttributeNames& names() {
  static const AttributeNames interned;
  return interned;
}

nb::object checked(PyObject* result) {
  if (result == nullptr) throw nb::python_error();
  return nb::steal(result);
}

nb::object get(nb::handle object, PyObject* name) {
  return checked(PyObject_GetAttr(object.ptr(), name));
}

nb::object call(nb::handle object, PyObject* name) {
  return checked(PyObject_CallMethodNoArgs(object.ptr(), name));
}

Dims tuple_dims(const nb::object& tuple, const char* what) {
  if (!PyTuple_Check(tuple.ptr())) throw InvalidArgument(fmt::format("{} is not a tuple", what));
  const Py_ssize_t size = PyTuple_GET_SIZE(tuple.ptr());
  if (size > Dims::kMax) {
    throw InvalidArgument(
        fmt::format("tensors of more than {} dimensions are not supported", int{Dims::kMax}));
  }
  Dims dims;
  for (Py_ssize_t i = 0; i < size; ++i) {
    const long long value = PyLong_AsLongLong(PyTuple_GET_ITEM(tuple.ptr(), i));
    if (value == -1 && PyErr_Occurred()) throw nb::python_error();
    dims.push_back(value);
  }
  return dims;
}

bool view_torch(nb::handle object, TensorView& view) {
  if (!is_torch_tensor(object)) return false;
  const TorchTypes* torch = torch_types();
  const AttributeNames& name = names();
  const nb::object dtype = get(object, name.dtype);
  for (const auto& [candidate, kjit_dtype] : torch->dtypes) {
    if (dtype.is(candidate)) view.dtype = kjit_dtype;
  }
  view.raw_bytes = dtype.is(torch->uint8);
  view.device_id = nb::cast<int>(call(object, name.get_device));
  view.is_cuda = view.device_id >= 0 && PyObject_IsTrue(get(object, name.is_cuda).ptr()) == 1;
  view.data = PyLong_AsVoidPtr(call(object, name.data_ptr).ptr());
  if (view.data == nullptr && PyErr_Occurred()) throw nb::python_error();
  view.shape = tuple_dims(get(object, name.shape), "tensor.shape");
  view.strides = tuple_dims(call(object, name.stride), "tensor.stride()");
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

Dims::Dims(std::initializer_list<std::int64_t> values) {
  for (std::int64_t value : values) push_back(value);
}

void Dims::push_back(std::int64_t value) {
  if (size_ == kMax) {
    throw InvalidArgument(
        fmt::format("tensors of more than {} dimensions are not supported", int{kMax}));
  }
  values_[static_cast<std::size_t>(size_++)] = value;
}

bool Dims::operator==(const Dims& other) const {
  if (size_ != other.size_) return false;
  for (int i = 0; i < size_; ++i) {
    if ((*this)[i] != other[i]) return false;
  }
  return true;
}

std::string shape_text(const Dims& shape) {
  std::string text = "[";
  for (int i = 0; i < shape.size(); ++i) text += fmt::format("{}{}", i ? ", " : "", shape[i]);
  return text + "]";
}

bool is_torch_tensor(nb::handle object) {
  const TorchTypes* torch = torch_types();
  return torch != nullptr && PyObject_TypeCheck(object.ptr(), reinterpret_cast<PyTypeObject*>(
                                                                  torch->tensor_type.ptr()));
}

std::uintptr_t resolve_stream(nb::handle stream, nb::handle like, int device) {
  if (!stream.is_none()) {
    if (PyLong_Check(stream.ptr())) return nb::cast<std::uintptr_t>(stream);
    for (const char* attribute : {"cuda_stream", "ptr"}) {  // torch.cuda.Stream, cupy Stream
      if (nb::hasattr(stream, attribute)) return nb::cast<std::uintptr_t>(stream.attr(attribute));
    }
    throw InvalidArgument(fmt::format("stream must be an int or a torch/CuPy stream, got {}",
                                      nb::type_name(stream.type()).c_str()));
  }
  if (is_torch_tensor(like)) {
    const TorchTypes* torch = torch_types();
    if (!torch->current_raw_stream.is_none()) {
      return nb::cast<std::uintptr_t>(torch->current_raw_stream(device));
    }
    return nb::cast<std::uintptr_t>(
        torch->cuda_module.attr("current_stream")(device).attr("cuda_stream"));
  }
  PyObject* cupy = PyDict_GetItemString(PyImport_GetModuleDict(), "cupy");  // borrowed
  if (cupy != nullptr) {
    return nb::cast<std::uintptr_t>(
        nb::handle(cupy).attr("cuda").attr("get_current_stream")().attr("ptr"));
  }
  return 0;
}

nb::object new_torch_tensor(nb::handle like, const Dims& shape, DType dtype) {
  const TorchTypes* torch = torch_types();
  if (torch == nullptr || !is_torch_tensor(like)) {
    throw InvalidArgument("out (and lse with return_lse) must be given unless q is a torch tensor");
  }
  nb::object torch_dtype;
  for (const auto& [candidate, kjit_dtype] : torch->dtypes) {
    if (kjit_dtype == dtype) torch_dtype = candidate;
  }
  nb::list sizes;
  for (int i = 0; i < shape.size(); ++i) sizes.append(shape[i]);
  return like.attr("new_empty")(nb::tuple(sizes), nb::arg("dtype") = torch_dtype);
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
  if (tensor.shape.size() != rank) {
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
