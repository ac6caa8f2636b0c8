// The URI: a deterministic, human-readable name of a kernel variant, built from the spec alone.
// It is what users see and filter by; the cache key (cache_key.hpp) identifies the binary.
#pragma once

#include <string>

#include "kernel_spec.hpp"

namespace kjit {

// e.g. batch_decode_with_attention_sink_dtype_q_bf16_dtype_kv_e4m3_dtype_o_bf16_dtype_idx_i32_
//      head_dim_64_use_swa_0_use_logits_cap_0
std::string make_uri(const KernelSpec& spec);

}  // namespace kjit
