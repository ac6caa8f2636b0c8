// The signature a host asks for. Everything that selects a different kernel binary
// (apart from the target arch and the compiler) is a field here. A new field must also go into
// make_uri() (uri.cpp) and Runtime::MemoKey (runtime.hpp), which key kernels by these fields.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "dtype.hpp"

namespace kjit {

// The one family kjit ships so far: decode attention over a paged KV cache.
inline constexpr const char* kBatchDecodeFamily = "batch_decode";

struct KernelSpec {
  std::string family = kBatchDecodeFamily;
  DType dtype_q = DType::kBF16;
  DType dtype_kv = DType::kBF16;
  std::optional<DType> dtype_o;  // defaults to dtype_q
  DType dtype_idx = DType::kI32;
  int head_dim = 128;
  bool use_sinks = false;       // per-head learned logit in the softmax denominator
  bool use_swa = false;         // sliding window (window_left at launch)
  bool use_logits_cap = false;  // cap · tanh(s / cap) on the scores

  DType output_dtype() const { return dtype_o.value_or(dtype_q); }
};

// Plain description of the spec (short dtype names), for logs, JSON output and templates.
nlohmann::json to_json(const KernelSpec& spec);

}  // namespace kjit
