// The C++ half of kjit.BatchDecodeWithPagedKVCacheWrapper: plan() does the host-side work once
// (guard, kernel lookup, page-table checks); run() validates tensors and launches, with no
// allocation and no synchronisation, so it can be captured in a CUDA graph.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "batch_decode_params.h"
#include "runtime.hpp"
#include "tensor_checks.hpp"

namespace kjit::python {

enum class KVLayout { kNHD, kHND };

struct PlanArguments {
  int num_qo_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int page_size = 0;
  std::string q_dtype, kv_dtype;
  std::optional<std::string> o_dtype;
  bool use_sinks = false;
  int window_left = -1;
  float logits_soft_cap = 0.f;
  std::optional<float> sm_scale;
};

class DecodePlan {
 public:
  DecodePlan(AnyTensor workspace, const std::string& kv_layout);

  void plan(AnyTensor indptr, AnyTensor indices, AnyTensor last_page_len,
            const PlanArguments& arguments);
  void run(const AnyTensor& q, const AnyTensor& k, const std::optional<AnyTensor>& v,
           const AnyTensor& o, const std::optional<AnyTensor>& lse,
           const std::optional<AnyTensor>& sinks, float k_scale, float v_scale,
           std::uintptr_t stream);

  std::string kernel_uri() const;
  const KernelSpec& spec() const;
  int batch_size() const { return batch_size_; }
  int device() const { return device_; }

 private:
  void require_planned(const char* what) const;
  void set_kv_pointers(const AnyTensor& k, const std::optional<AnyTensor>& v,
                       BatchDecodeParams& params) const;

  AnyTensor workspace_;
  KVLayout layout_;
  std::optional<Kernel> kernel_;
  // Kept alive for as long as the plan: their device pointers are in params_.
  AnyTensor indptr_, indices_, last_page_len_;
  BatchDecodeParams params_{};  // everything plan() fixes
  int batch_size_ = 0;
  int device_ = -1;
};

}  // namespace kjit::python
