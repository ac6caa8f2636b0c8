// Batch decode attention over a paged KV cache (DESIGN.md §5):
//   s_j = sm_scale * k_scale * <q, k_j>            (then cap * tanh(s_j / cap) if capped)
//   m   = max(max_j s_j, sink)                      (sink = -inf without sinks)
//   den = sum_j exp(s_j - m) + exp(sink - m)
//   o   = v_scale * sum_j exp(s_j - m) v_j / den,   lse = m + log(den)
// over the visible keys j of each request (all, or the last window_left + 1 with a window).
//
// Tiling: one CTA per (query head, request); its 4 warps take keys round-robin, each lane owning
// head_dim / 32 consecutive dimensions of q, k, v and the output. Every warp keeps its own
// online-softmax state; the states are merged through shared memory at the end, where the sink
// joins the denominator exactly once.
//
// This is the simple, correct kernel: it reads each KV head once per query head of its group
// (GQA re-reads come from L2) and does its math on CUDA cores.
#pragma once

#include "batch_decode_params.h"
#include "dtype_convert.cuh"
#include "softmax_state.cuh"

namespace kjit {

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

// Number of tokens of request b; its pages are kv_indices[kv_indptr[b] ..).
__device__ __forceinline__ int request_kv_len(const BatchDecodeParams& p, int request) {
  const int num_pages = p.kv_indptr[request + 1] - p.kv_indptr[request];
  return num_pages > 0 ? (num_pages - 1) * p.page_size + p.kv_last_page_len[request] : 0;
}

template <class Config>
__device__ __forceinline__ void batch_decode(const BatchDecodeParams& p) {
  using DTypeQ = typename Config::DTypeQ;
  using DTypeKV = typename Config::DTypeKV;
  using DTypeO = typename Config::DTypeO;
  constexpr int kHeadDim = Config::kHeadDim;
  constexpr int kLaneDims = kHeadDim / 32;  // dimensions owned by each lane
  constexpr int kWarps = kBatchDecodeThreads / 32;
  static_assert(kHeadDim % 32 == 0, "head_dim must be a multiple of 32");

  const int qo_head = blockIdx.x;
  const int request = blockIdx.y;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int kv_head = qo_head / (p.num_qo_heads / p.num_kv_heads);

  const int kv_len = request_kv_len(p, request);
  int first_key = 0;
  if (Config::kUseSlidingWindow && p.window_left >= 0) {
    first_key = max(0, kv_len - 1 - p.window_left);
  }

  // q scaled so that <q, k> is the logit: k_scale belongs to the score, not to each k element.
  const DTypeQ* q = static_cast<const DTypeQ*>(p.q) + request * p.q_stride_batch +
                    qo_head * p.q_stride_head + lane * kLaneDims;
  const float score_scale = p.sm_scale * p.k_scale;
  float q_lane[kLaneDims];
#pragma unroll
  for (int i = 0; i < kLaneDims; ++i) q_lane[i] = to_float(q[i]) * score_scale;

  const int* pages = p.kv_indices + p.kv_indptr[request];
  SoftmaxState<kLaneDims> state;
  for (int key = first_key + warp; key < kv_len; key += kWarps) {
    const long long offset = pages[key / p.page_size] * p.kv_stride_page +
                             (key % p.page_size) * p.kv_stride_token + kv_head * p.kv_stride_head +
                             lane * kLaneDims;
    const DTypeKV* k = static_cast<const DTypeKV*>(p.k) + offset;
    const DTypeKV* v = static_cast<const DTypeKV*>(p.v) + offset;
    float partial = 0.f;
    float v_lane[kLaneDims];
#pragma unroll
    for (int i = 0; i < kLaneDims; ++i) {
      partial += q_lane[i] * to_float(k[i]);
      v_lane[i] = to_float(v[i]);
    }
    float s = warp_sum(partial);
    if (Config::kUseLogitsCap) s = p.logits_soft_cap * tanhf(s / p.logits_soft_cap);
    state.online_softmax_update(s, v_lane);
  }

  // Merge the warps' states; thread t then finishes output dimension t (and t + 128, ...).
  __shared__ float warp_max[kWarps];
  __shared__ float warp_denominator[kWarps];
  __shared__ float warp_weighted[kWarps][kHeadDim];
  if (lane == 0) {
    warp_max[warp] = state.max_logit;
    warp_denominator[warp] = state.denominator;
  }
#pragma unroll
  for (int i = 0; i < kLaneDims; ++i) warp_weighted[warp][lane * kLaneDims + i] = state.weighted[i];
  __syncthreads();

  const float sink = Config::kUseSinks ? p.sinks[qo_head] : negative_infinity();
  float max_logit = sink;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) max_logit = fmaxf(max_logit, warp_max[w]);

  float warp_weight[kWarps];  // exp(m_w - m): brings each warp's state to the common maximum
  float denominator = Config::kUseSinks ? __expf(sink - max_logit) : 0.f;  // the sink, once
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    warp_weight[w] = warp_max[w] == negative_infinity() ? 0.f : __expf(warp_max[w] - max_logit);
    denominator += warp_denominator[w] * warp_weight[w];
  }
  // No visible key and no sink: the output is defined as 0 and the LSE as -inf.
  const float output_scale = denominator > 0.f ? p.v_scale / denominator : 0.f;

  DTypeO* o = static_cast<DTypeO*>(p.o) + request * p.o_stride_batch + qo_head * p.o_stride_head;
  for (int dim = threadIdx.x; dim < kHeadDim; dim += kBatchDecodeThreads) {
    float weighted = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) weighted += warp_weighted[w][dim] * warp_weight[w];
    o[dim] = from_float<DTypeO>(weighted * output_scale);
  }
  if (p.lse != nullptr && threadIdx.x == 0) {
    p.lse[request * p.num_qo_heads + qo_head] =
        denominator > 0.f ? max_logit + __logf(denominator) : negative_infinity();
  }
}

}  // namespace kjit
