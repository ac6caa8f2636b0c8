// Split-KV merge: combines the partial results of a request's chunks (flash-decoding).
// Each chunk c left o_c (normalised by its own denominator) and lse_c (base 2). Then
//   lse = log2(sum_c 2^lse_c + 2^sink),   o = sum_c 2^(lse_c - lse) o_c
// so the sink joins the denominator exactly once, here, and carries no value.
#pragma once

#include "batch_decode_params.h"
#include "dtype_convert.cuh"
#include "softmax_state.cuh"

namespace kjit {

// One CTA per (split request, query head); threads stride over head_dim.
template <class Config>
__device__ __forceinline__ void merge_states(const BatchDecodeParams& p) {
  constexpr int kHeadDim = Config::kHeadDim;
  const BatchDecodeMergeItem item = p.merge_items[blockIdx.x];
  const int head = blockIdx.y;
  const int group = p.num_qo_heads / p.num_kv_heads;
  const int kv_head = head / group, row = head % group;
  const int row_block = row / kBatchDecodeRows, row_in_block = row % kBatchDecodeRows;
  auto slot_of = [&](int chunk) {
    const long long slot = item.first_slot + kv_head * item.num_chunks + chunk;
    return (slot * p.num_row_blocks + row_block) * kBatchDecodeRows + row_in_block;
  };

  float max_lse = negative_infinity();
  for (int c = 0; c < item.num_chunks; ++c) max_lse = fmaxf(max_lse, p.partial_lse[slot_of(c)]);
  float sink = negative_infinity();
  if constexpr (Config::kUseSinks) sink = p.sinks[head] * 1.4426950408889634f;
  const float common = safe_max(fmaxf(max_lse, sink));
  float denominator = Config::kUseSinks ? exp2f(sink - common) : 0.f;
  for (int c = 0; c < item.num_chunks; ++c)
    denominator += exp2f(p.partial_lse[slot_of(c)] - common);

  auto* o = static_cast<typename Config::DTypeO*>(p.o) + item.request * p.o_stride_batch +
            head * p.o_stride_head;
  for (int dim = threadIdx.x; dim < kHeadDim; dim += kBatchDecodeThreads) {
    float value = 0.f;
    for (int c = 0; c < item.num_chunks; ++c) {
      const long long slot = slot_of(c);
      value += exp2f(p.partial_lse[slot] - common) * p.partial_o[slot * kHeadDim + dim];
    }
    o[dim] = from_float<typename Config::DTypeO>(denominator > 0.f ? value / denominator : 0.f);
  }
  if (threadIdx.x == 0 && p.lse != nullptr) {
    p.lse[item.request * p.num_qo_heads + head] =
        denominator > 0.f ? (common + log2f(denominator)) * 0.6931471805599453f
                          : negative_infinity();
  }
}

}  // namespace kjit
