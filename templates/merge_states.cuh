// Split-KV merge: combines the partial results of a request's chunks (flash-decoding).
// Each chunk c left o_c (normalised by its own denominator) and lse_c (base 2). Then
//   lse = log2(sum_c 2^lse_c + 2^sink),   o = sum_c 2^(lse_c - lse) o_c
// so the sink joins the denominator exactly once, here, and carries no value.
#pragma once

#include "batch_decode_params.h"
#include "dtype_convert.cuh"
#include "softmax_state.cuh"

namespace kjit {

// Chunks a merge CTA handles at once (their weights live in shared memory).
constexpr int kMergeChunkBatch = 256;

// One CTA per (split request, query head). The chunks' LSEs are read in parallel into shared
// memory (a serial walk would be one dependent load per chunk); then each thread sums its head
// dimensions over the chunks, several independent loads in flight.
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
  __shared__ float weight[kMergeChunkBatch];
  __shared__ float reduce[kBatchDecodeThreads / 32];

  // Common maximum over the chunks and the sink.
  float local_max = negative_infinity();
  for (int c = threadIdx.x; c < item.num_chunks; c += kBatchDecodeThreads) {
    local_max = fmaxf(local_max, p.partial_lse[slot_of(c)]);
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    local_max = fmaxf(local_max, __shfl_xor_sync(0xffffffffu, local_max, offset));
  }
  if (threadIdx.x % 32 == 0) reduce[threadIdx.x / 32] = local_max;
  __syncthreads();
  float sink = negative_infinity();
  if constexpr (Config::kUseSinks) sink = p.sinks[head] * 1.4426950408889634f;
  float common = sink;
  for (int w = 0; w < kBatchDecodeThreads / 32; ++w) common = fmaxf(common, reduce[w]);
  common = safe_max(common);
  __syncthreads();

  // Denominator: the chunks' and the sink's, once.
  float local_sum = 0.f;
  for (int c = threadIdx.x; c < item.num_chunks; c += kBatchDecodeThreads) {
    local_sum += exp2f(p.partial_lse[slot_of(c)] - common);
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    local_sum += __shfl_xor_sync(0xffffffffu, local_sum, offset);
  }
  if (threadIdx.x % 32 == 0) reduce[threadIdx.x / 32] = local_sum;
  __syncthreads();
  float denominator = Config::kUseSinks ? exp2f(sink - common) : 0.f;
  for (int w = 0; w < kBatchDecodeThreads / 32; ++w) denominator += reduce[w];
  const float inverse = denominator > 0.f ? 1.f / denominator : 0.f;

  // o = sum_c w_c o_c, the weights staged through shared memory a batch of chunks at a time.
  float value[(kHeadDim + kBatchDecodeThreads - 1) / kBatchDecodeThreads] = {};
  for (int first = 0; first < item.num_chunks; first += kMergeChunkBatch) {
    const int count = min(kMergeChunkBatch, item.num_chunks - first);
    __syncthreads();
    for (int c = threadIdx.x; c < count; c += kBatchDecodeThreads) {
      weight[c] = exp2f(p.partial_lse[slot_of(first + c)] - common) * inverse;
    }
    __syncthreads();
#pragma unroll
    for (int i = 0; i * kBatchDecodeThreads < kHeadDim; ++i) {
      const int dim = threadIdx.x + i * kBatchDecodeThreads;
      if (dim >= kHeadDim) break;
#pragma unroll 8
      for (int c = 0; c < count; ++c) {
        value[i] += weight[c] * p.partial_o[slot_of(first + c) * kHeadDim + dim];
      }
    }
  }
  auto* o = static_cast<typename Config::DTypeO*>(p.o) + item.request * p.o_stride_batch +
            head * p.o_stride_head;
#pragma unroll
  for (int i = 0; i * kBatchDecodeThreads < kHeadDim; ++i) {
    const int dim = threadIdx.x + i * kBatchDecodeThreads;
    if (dim < kHeadDim) o[dim] = from_float<typename Config::DTypeO>(value[i]);
  }
  if (threadIdx.x == 0 && p.lse != nullptr) {
    p.lse[item.request * p.num_qo_heads + head] =
        denominator > 0.f ? (common + log2f(denominator)) * 0.6931471805599453f
                          : negative_infinity();
  }
}

}  // namespace kjit
