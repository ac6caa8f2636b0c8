#include "decode_plan.hpp"

#include <cmath>

#include <fmt/format.h>

#include <cstring>

#include "cuda_driver.hpp"
#include "errors.hpp"
#include "guard.hpp"
#include "loaded_module.hpp"

namespace kjit::python {
namespace {

constexpr int kNoDevice = -1;

KVLayout parse_layout(const std::string& layout) {
  if (layout == "NHD") return KVLayout::kNHD;
  if (layout == "HND") return KVLayout::kHND;
  throw InvalidArgument(
      fmt::format("kv_layout '{}' is not supported: use \"NHD\" or \"HND\"", layout));
}

void require_shape(const Dims& shape, const Dims& expected, const char* name, const char* meaning) {
  if (shape != expected) {
    throw InvalidArgument(fmt::format("{} has shape {} but {} {} was expected", name,
                                      shape_text(shape), shape_text(expected), meaning));
  }
}

}  // namespace

DecodePlan::DecodePlan(nb::handle workspace, const std::string& kv_layout)
    : workspace_(nb::borrow(workspace)), layout_(parse_layout(kv_layout)) {
  const TensorView view = view_tensor(workspace, "workspace_buffer");
  if (!view.is_cuda) throw InvalidArgument("workspace_buffer must be a CUDA tensor");
  if (!view.raw_bytes || view.shape.size() != 1 || (view.shape[0] > 1 && view.strides[0] != 1)) {
    throw InvalidArgument("workspace_buffer must be a contiguous 1-D uint8 tensor");
  }
  device_ = view.device_id;
  workspace_data_ = view.data;
  workspace_bytes_ = static_cast<std::size_t>(view.shape[0]);
}

namespace {

// The values of a 1-D int32 tensor on the host, copied from the device if it lives there.
std::vector<int> host_ints(const TensorView& tensor, const char* name, int device,
                           std::uintptr_t stream) {
  if (tensor.dtype != DType::kI32 || tensor.shape.size() != 1 ||
      (tensor.shape[0] > 1 && tensor.strides[0] != 1)) {
    throw InvalidArgument(fmt::format("{} must be a contiguous 1-D int32 tensor", name));
  }
  std::vector<int> values(static_cast<std::size_t>(tensor.shape[0]));
  if (values.empty()) return values;
  if (!tensor.is_cuda) {
    std::memcpy(values.data(), tensor.data, values.size() * sizeof(int));
    return values;
  }
  if (tensor.device_id != device) {
    throw InvalidArgument(fmt::format("{} is on cuda:{} but the workspace is on cuda:{}", name,
                                      tensor.device_id, device));
  }
  const CudaDriver& cu = cuda_driver();
  const auto source = reinterpret_cast<CUstream>(stream);
  KJIT_CUDA_CHECK(cu.cuMemcpyDtoHAsync(values.data(), reinterpret_cast<CUdeviceptr>(tensor.data),
                                       values.size() * sizeof(int), source));
  KJIT_CUDA_CHECK(cu.cuStreamSynchronize(source));
  return values;
}

}  // namespace

void DecodePlan::plan(nb::handle indptr, nb::handle indices, nb::handle last_page_len,
                      const PlanArguments& arguments, nb::handle stream_object) {
  KernelSpec spec;
  spec.dtype_q = parse_dtype(arguments.q_dtype);
  spec.dtype_kv = parse_dtype(arguments.kv_dtype);
  if (arguments.o_dtype) spec.dtype_o = parse_dtype(*arguments.o_dtype);
  spec.head_dim = arguments.head_dim;
  spec.use_sinks = arguments.use_sinks;
  spec.use_swa = arguments.window_left >= 0;
  spec.use_logits_cap = arguments.logits_soft_cap > 0.f;
  require_supported(spec);  // NotImplementedError before anything else can fail

  if (arguments.sm_scale && !(std::isfinite(*arguments.sm_scale) && *arguments.sm_scale > 0)) {
    throw InvalidArgument(
        fmt::format("sm_scale must be a positive finite number, got {}", *arguments.sm_scale));
  }
  const int device = device_;
  const std::uintptr_t stream = resolve_stream(stream_object, indices, device);
  const TensorView pages = view_tensor(indices, "indices");
  check_tensor(pages, "indices", DType::kI32, 1, device);
  const ScopedContext context(device);  // the caller's current device is left as it was
  const std::vector<int> host_indptr =
      host_ints(view_tensor(indptr, "indptr"), "indptr", device, stream);
  const std::vector<int> host_last =
      host_ints(view_tensor(last_page_len, "last_page_len"), "last_page_len", device, stream);
  if (!host_indptr.empty() && host_indptr.back() > pages.shape[0]) {
    throw InvalidArgument(fmt::format("indptr ends at {} but indices has {} entries",
                                      host_indptr.back(), pages.shape[0]));
  }

  BatchDecodeShape shape;
  shape.num_qo_heads = arguments.num_qo_heads;
  shape.num_kv_heads = arguments.num_kv_heads;
  shape.head_dim = arguments.head_dim;
  shape.page_size = arguments.page_size;
  shape.window_left = arguments.window_left;
  Kernel kernel = Runtime::global().get(spec, device_arch(device));
  // plan_ is rebuilt in place: if that fails, the wrapper is unplanned rather than left with
  // the previous kernel and no schedule.
  kernel_.reset();
  plan_.emplace(kernel, host_indptr, host_last, shape, workspace_data_, workspace_bytes_,
                reinterpret_cast<CUstream>(stream));
  kernel_ = kernel;
  indices_ = nb::borrow(indices);
  batch_size_ = static_cast<int>(host_last.size());

  params_ = {};
  params_.kv_indices = static_cast<const int*>(pages.data);
  params_.num_qo_heads = arguments.num_qo_heads;
  params_.num_kv_heads = arguments.num_kv_heads;
  params_.page_size = arguments.page_size;
  params_.sm_scale = arguments.sm_scale.value_or(1.f / std::sqrt(float(arguments.head_dim)));
  params_.logits_soft_cap = arguments.logits_soft_cap;
}

void DecodePlan::require_planned(const char* what) const {
  if (!kernel_ || !plan_) throw InvalidArgument(fmt::format("{}: call plan() first", what));
}

std::string DecodePlan::kernel_uri() const {
  require_planned("kernel_uri");
  return kernel_->uri();
}

const KernelSpec& DecodePlan::spec() const {
  require_planned("spec");
  return kernel_->spec();
}

void DecodePlan::set_kv_pointers(nb::handle k, nb::handle v, BatchDecodeParams& params) const {
  const KernelSpec& spec = kernel_->spec();
  const bool nhd = layout_ == KVLayout::kNHD;
  const std::int64_t dim1 = nhd ? params_.page_size : params_.num_kv_heads;
  const std::int64_t dim2 = nhd ? params_.num_kv_heads : params_.page_size;
  const char* layout_text = nhd ? "(num_pages, page_size, num_kv_heads, head_dim)"
                                : "(num_pages, num_kv_heads, page_size, head_dim)";
  const TensorView keys = view_tensor(k, v.is_none() ? "kv_cache" : "k_cache");
  int first = 0;  // index of the page dimension's successor (1, or 2 in a combined tensor)
  if (!v.is_none()) {
    const TensorView values = view_tensor(v, "v_cache");
    check_tensor(keys, "k_cache", spec.dtype_kv, 4, device_);
    check_tensor(values, "v_cache", spec.dtype_kv, 4, device_);
    require_shape(keys.shape, {keys.shape[0], dim1, dim2, spec.head_dim}, "k_cache", layout_text);
    require_shape(values.shape, keys.shape, "v_cache", "(the shape of k_cache)");
    if (keys.strides != values.strides) {
      throw InvalidArgument("k_cache and v_cache must have the same strides");
    }
    params.k = keys.data;
    params.v = values.data;
    first = 1;
  } else {
    check_tensor(keys, "kv_cache", spec.dtype_kv, 5, device_);
    require_shape(keys.shape, {keys.shape[0], 2, dim1, dim2, spec.head_dim}, "kv_cache",
                  "(num_pages, 2, ...) in the wrapper's kv_layout");
    params.k = keys.data;
    params.v = static_cast<const char*>(keys.data) + keys.strides[1] * size_in_bytes(spec.dtype_kv);
    first = 2;
  }
  params.kv_stride_page = keys.strides[0];
  params.kv_stride_token = keys.strides[nhd ? first : first + 1];
  params.kv_stride_head = keys.strides[nhd ? first + 1 : first];
}

nb::object DecodePlan::run(nb::handle q, nb::handle kv_cache, nb::handle sinks, float k_scale,
                           float v_scale, bool return_lse, nb::handle out, nb::handle lse,
                           nb::handle stream) {
  require_planned("run");
  const KernelSpec& spec = kernel_->spec();
  if (spec.use_sinks && sinks.is_none()) {
    throw InvalidArgument("plan() was called with use_sinks=True but run() got no sinks");
  }
  if (!spec.use_sinks && !sinks.is_none()) {
    throw InvalidArgument(
        "run() got sinks but plan() was called without use_sinks=True; sinks are never ignored");
  }
  if (!(std::isfinite(k_scale) && std::isfinite(v_scale))) {
    throw InvalidArgument("k_scale and v_scale must be finite");
  }
  nb::handle k = kv_cache, v = nb::none();
  if (PyTuple_Check(kv_cache.ptr()) || PyList_Check(kv_cache.ptr())) {
    if (nb::len(kv_cache) != 2) {
      throw InvalidArgument("kv_cache must be a (k, v) pair or one (num_pages, 2, ...) tensor");
    }
    k = PySequence_Fast_GET_ITEM(kv_cache.ptr(), 0);
    v = PySequence_Fast_GET_ITEM(kv_cache.ptr(), 1);
  }
  const Dims q_shape = {batch_size_, params_.num_qo_heads, spec.head_dim};
  const TensorView query = view_tensor(q, "q");
  check_tensor(query, "q", spec.dtype_q, 3, device_);
  require_shape(query.shape, q_shape, "q", "(batch, num_qo_heads, head_dim)");
  // Outputs the caller did not pass are allocated like q (torch tensors only).
  nb::object output_object = nb::borrow(out), lse_object = nb::borrow(lse);
  if (out.is_none()) output_object = new_torch_tensor(q, q_shape, spec.output_dtype());
  if (!return_lse) {
    lse_object = nb::none();
  } else if (lse.is_none()) {
    lse_object = new_torch_tensor(q, {batch_size_, params_.num_qo_heads}, DType::kF32);
  }
  const TensorView output = view_tensor(output_object, "out");
  check_tensor(output, "out", spec.output_dtype(), 3, device_);
  require_shape(output.shape, q_shape, "out", "(the shape of q)");

  BatchDecodeParams params = params_;
  set_kv_pointers(k, v, params);
  params.q = query.data;
  params.q_stride_batch = query.strides[0];
  params.q_stride_head = query.strides[1];
  params.o = output.data;
  params.o_stride_batch = output.strides[0];
  params.o_stride_head = output.strides[1];
  params.k_scale = k_scale;
  params.v_scale = v_scale;
  if (!sinks.is_none()) {
    const TensorView sink_values = view_tensor(sinks, "sinks");
    check_tensor(sink_values, "sinks", DType::kF32, 1, device_);
    require_shape(sink_values.shape, {params_.num_qo_heads}, "sinks", "(num_qo_heads)");
    params.sinks = static_cast<const float*>(sink_values.data);
  }
  if (!lse_object.is_none()) {
    const TensorView lse_values = view_tensor(lse_object, "lse");
    check_tensor(lse_values, "lse", DType::kF32, 2, device_);
    require_shape(lse_values.shape, {batch_size_, params_.num_qo_heads}, "lse",
                  "(batch, num_qo_heads)");
    if (lse_values.strides[0] != params_.num_qo_heads) {
      throw InvalidArgument("lse must be contiguous");
    }
    params.lse = static_cast<float*>(lse_values.data);
  }
  const std::uintptr_t cuda_stream = resolve_stream(stream, q, device_);
  const ScopedContext context(device_);
  plan_->run(params, reinterpret_cast<CUstream>(cuda_stream));
  if (return_lse) return nb::make_tuple(output_object, lse_object);
  return output_object;
}

}  // namespace kjit::python
