// The C++ half of kjit.BatchDecodeWithPagedKVCacheWrapper: plan() does the host-side work once
// (guard, kernel lookup, page-table checks); run() validates tensors and launches, with no
// allocation and no synchronisation, so it can be captured in a CUDA graph.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "batch_decode_params.h"
#include "batch_decode_plan.hpp"
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
  DecodePlan(nb::handle workspace, const std::string& kv_layout);

  // Tensors are any objects view_tensor() accepts; optional ones may be None. Streams are what
  // resolve_stream() accepts (None: the current one).
  // indptr and last_page_len may be CUDA or host tensors (they are read on the host);
  // indices must be a CUDA tensor. `stream` orders the schedule upload.
  void plan(nb::handle indptr, nb::handle indices, nb::handle last_page_len,
            const PlanArguments& arguments, nb::handle stream);
  // The wrapper's run(), end to end in C++ (one call from Python, no Python frame of ours):
  // kv_cache is a (k, v) pair or one combined tensor; out and lse are allocated like q when
  // None. Returns out, or (out, lse) with return_lse.
  nb::object run(nb::handle q, nb::handle kv_cache, nb::handle sinks, float k_scale, float v_scale,
                 bool return_lse, nb::handle out, nb::handle lse, nb::handle stream);

  std::string kernel_uri() const;
  const KernelSpec& spec() const;
  int batch_size() const { return batch_size_; }
  int device() const { return device_; }  // the workspace's, which every tensor must share

 private:
  void require_planned(const char* what) const;
  void set_kv_pointers(nb::handle k, nb::handle v, BatchDecodeParams& params) const;

  nb::object workspace_;
  KVLayout layout_;
  std::optional<Kernel> kernel_;
  std::optional<BatchDecodePlan> plan_;
  nb::object indices_;          // kept alive: its device pointer is in params_
  BatchDecodeParams params_{};  // everything plan() fixes
  int batch_size_ = 0;
  int device_ = -1;
  void* workspace_data_ = nullptr;
  std::size_t workspace_bytes_ = 0;
};

}  // namespace kjit::python
