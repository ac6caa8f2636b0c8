#include "decode_plan.hpp"

#include <cmath>

#include <fmt/format.h>

#include "batch_decode.hpp"
#include "errors.hpp"
#include "guard.hpp"
#include "loaded_module.hpp"

namespace kjit::python {
namespace {

constexpr int kNoDevice = -1;

KVLayout parse_layout(const std::string& layout) {
  if (layout == "NHD") return KVLayout::kNHD;
  if (layout == "HND") return KVLayout::kHND;
  throw InvalidArgument(fmt::format("kv_layout '{}' is not supported: use \"NHD\" or \"HND\"",
                                    layout));
}

void require_shape(const std::vector<std::int64_t>& shape,
                   const std::vector<std::int64_t>& expected, const char* name,
                   const char* meaning) {
  if (shape != expected) {
    throw InvalidArgument(fmt::format("{} has shape {} but {} {} was expected", name,
                                      shape_text(shape), shape_text(expected), meaning));
  }
}

}  // namespace

DecodePlan::DecodePlan(AnyTensor workspace, const std::string& kv_layout)
    : workspace_(std::move(workspace)), layout_(parse_layout(kv_layout)) {
  if (workspace_.device_type() != 2) {
    throw InvalidArgument("workspace_buffer must be a CUDA tensor");
  }
}

void DecodePlan::plan(AnyTensor indptr, AnyTensor indices, AnyTensor last_page_len,
                      const PlanArguments& arguments) {
  KernelSpec spec;
  spec.dtype_q = parse_dtype(arguments.q_dtype);
  spec.dtype_kv = parse_dtype(arguments.kv_dtype);
  if (arguments.o_dtype) spec.dtype_o = parse_dtype(*arguments.o_dtype);
  spec.head_dim = arguments.head_dim;
  spec.use_sinks = arguments.use_sinks;
  spec.use_swa = arguments.window_left >= 0;
  spec.use_logits_cap = arguments.logits_soft_cap > 0.f;
  require_supported(spec);  // NotImplementedError before anything else can fail

  if (arguments.num_qo_heads <= 0 || arguments.num_kv_heads <= 0 ||
      arguments.num_qo_heads % arguments.num_kv_heads != 0) {
    throw InvalidArgument(fmt::format(
        "num_qo_heads ({}) must be a positive multiple of num_kv_heads ({})",
        arguments.num_qo_heads, arguments.num_kv_heads));
  }
  if (arguments.page_size <= 0) {
    throw InvalidArgument(fmt::format("page_size must be positive, got {}", arguments.page_size));
  }
  if (arguments.sm_scale && !(std::isfinite(*arguments.sm_scale) && *arguments.sm_scale > 0)) {
    throw InvalidArgument(fmt::format("sm_scale must be a positive finite number, got {}",
                                      *arguments.sm_scale));
  }

  const int device = workspace_.device_id();
  const auto last_shape = check_tensor(last_page_len, "last_page_len", DType::kI32, 1, device);
  const auto batch = last_shape[0];
  if (batch <= 0 || batch > 65535) {
    throw InvalidArgument(fmt::format("batch size {} must be in 1 .. 65535", batch));
  }
  require_shape(check_tensor(indptr, "indptr", DType::kI32, 1, device), {batch + 1}, "indptr",
                "(batch + 1)");
  check_tensor(indices, "indices", DType::kI32, 1, device);

  kernel_ = Runtime::global().get(spec, device_arch(device));
  indptr_ = std::move(indptr);
  indices_ = std::move(indices);
  last_page_len_ = std::move(last_page_len);
  batch_size_ = static_cast<int>(batch);
  device_ = device;

  params_ = {};
  params_.kv_indptr = static_cast<const int*>(indptr_.data());
  params_.kv_indices = static_cast<const int*>(indices_.data());
  params_.kv_last_page_len = static_cast<const int*>(last_page_len_.data());
  params_.batch_size = batch_size_;
  params_.num_qo_heads = arguments.num_qo_heads;
  params_.num_kv_heads = arguments.num_kv_heads;
  params_.page_size = arguments.page_size;
  params_.window_left = arguments.window_left;
  params_.sm_scale = arguments.sm_scale.value_or(1.f / std::sqrt(float(arguments.head_dim)));
  params_.logits_soft_cap = arguments.logits_soft_cap;
}

void DecodePlan::require_planned(const char* what) const {
  if (!kernel_) throw InvalidArgument(fmt::format("{}: call plan() first", what));
}

std::string DecodePlan::kernel_uri() const {
  require_planned("kernel_uri");
  return kernel_->uri();
}

const KernelSpec& DecodePlan::spec() const {
  require_planned("spec");
  return kernel_->spec();
}

void DecodePlan::set_kv_pointers(const AnyTensor& k, const std::optional<AnyTensor>& v,
                                 BatchDecodeParams& params) const {
  const KernelSpec& spec = kernel_->spec();
  const std::int64_t pages_dim_token = layout_ == KVLayout::kNHD ? params_.page_size : params_.num_kv_heads;
  const std::int64_t pages_dim_head = layout_ == KVLayout::kNHD ? params_.num_kv_heads : params_.page_size;
  const char* layout_text = layout_ == KVLayout::kNHD ? "(num_pages, page_size, num_kv_heads, head_dim)"
                                                       : "(num_pages, num_kv_heads, page_size, head_dim)";
  if (v) {
    const auto k_shape = check_tensor(k, "k_cache", spec.dtype_kv, 4, device_);
    const auto v_shape = check_tensor(*v, "v_cache", spec.dtype_kv, 4, device_);
    require_shape(k_shape, {k_shape[0], pages_dim_token, pages_dim_head, spec.head_dim}, "k_cache",
                  layout_text);
    require_shape(v_shape, k_shape, "v_cache", "(the shape of k_cache)");
    for (int i = 0; i < 4; ++i) {
      if (k.stride(i) != v->stride(i)) {
        throw InvalidArgument("k_cache and v_cache must have the same strides");
      }
    }
    params.k = k.data();
    params.v = v->data();
  } else {
    const auto shape = check_tensor(k, "kv_cache", spec.dtype_kv, 5, device_);
    require_shape(shape, {shape[0], 2, pages_dim_token, pages_dim_head, spec.head_dim}, "kv_cache",
                  "(num_pages, 2, ...) in the wrapper's kv_layout");
    params.k = k.data();
    params.v = static_cast<const char*>(k.data()) + k.stride(1) * size_in_bytes(spec.dtype_kv);
  }
  const int offset = v ? 0 : 1;  // the combined tensor has the K/V dimension at 1
  params.kv_stride_page = k.stride(0);
  params.kv_stride_token = k.stride(layout_ == KVLayout::kNHD ? 1 + offset : 2 + offset);
  params.kv_stride_head = k.stride(layout_ == KVLayout::kNHD ? 2 + offset : 1 + offset);
}

void DecodePlan::run(const AnyTensor& q, const AnyTensor& k, const std::optional<AnyTensor>& v,
                     const AnyTensor& o, const std::optional<AnyTensor>& lse,
                     const std::optional<AnyTensor>& sinks, float k_scale, float v_scale,
                     std::uintptr_t stream) {
  require_planned("run");
  const KernelSpec& spec = kernel_->spec();
  if (spec.use_sinks && !sinks) {
    throw InvalidArgument("plan() was called with use_sinks=True but run() got no sinks");
  }
  if (!spec.use_sinks && sinks) {
    throw InvalidArgument(
        "run() got sinks but plan() was called without use_sinks=True; sinks are never ignored");
  }
  if (!(std::isfinite(k_scale) && std::isfinite(v_scale))) {
    throw InvalidArgument("k_scale and v_scale must be finite");
  }
  const std::vector<std::int64_t> q_shape = {batch_size_, params_.num_qo_heads, spec.head_dim};
  require_shape(check_tensor(q, "q", spec.dtype_q, 3, device_), q_shape, "q",
                "(batch, num_qo_heads, head_dim)");
  require_shape(check_tensor(o, "out", spec.output_dtype(), 3, device_), q_shape, "out",
                "(the shape of q)");

  BatchDecodeParams params = params_;
  set_kv_pointers(k, v, params);
  params.q = q.data();
  params.q_stride_batch = q.stride(0);
  params.q_stride_head = q.stride(1);
  params.o = o.data();
  params.o_stride_batch = o.stride(0);
  params.o_stride_head = o.stride(1);
  params.k_scale = k_scale;
  params.v_scale = v_scale;
  if (sinks) {
    require_shape(check_tensor(*sinks, "sinks", DType::kF32, 1, device_), {params_.num_qo_heads},
                  "sinks", "(num_qo_heads)");
    params.sinks = static_cast<const float*>(sinks->data());
  }
  if (lse) {
    require_shape(check_tensor(*lse, "lse", DType::kF32, 2, device_),
                  {batch_size_, params_.num_qo_heads}, "lse", "(batch, num_qo_heads)");
    if (lse->stride(0) != params_.num_qo_heads) throw InvalidArgument("lse must be contiguous");
    params.lse = static_cast<float*>(lse->data());
  }
  make_primary_context_current(device_);
  launch_batch_decode(*kernel_, params, reinterpret_cast<CUstream>(stream));
}

}  // namespace kjit::python
