// Split-KV merge: combines the partial results of a request's chunks (flash-decoding).
// Each chunk c left o_c (normalised by its own denominator) and lse_c (base 2). Then
//   lse = log2(sum_c 2^lse_c + 2^sink),   o = sum_c 2^(lse_c - lse) o_c
// so the sink joins the denominator exactly once, here, and carries no value.
#pragma once

#include "batch_decode_params.h"
#include "dtype_convert.cuh"
#include "grid_dependency.cuh"
#include "softmax_state.cuh"

namespace kjit {

// A sum of powers of two kept as (max, sum of 2^(x - max)), so that partial sums combine without
// overflow in any order.
struct Log2SumExp {
  float max;
  float sum;
};

__device__ __forceinline__ Log2SumExp combine(Log2SumExp a, Log2SumExp b) {
  const float max = fmaxf(a.max, b.max);
  return {max, a.sum * exp2f(a.max - safe_max(max)) + b.sum * exp2f(b.max - safe_max(max))};
}

// One CTA per (split request, query head), in two rounds of independent loads (a merge is
// latency, not bytes: S3 merges 64 chunks of 64 floats per head):
//   1. every thread folds the LSEs of its chunks; the CTA combines the threads' and the sink's;
//   2. threads are (chunk lane, 16-byte column) pairs: each sums its column over every
//      kChunkLanes-th chunk, then the chunk lanes are added in shared memory.
template <class Config>
__device__ __forceinline__ void merge_states(const BatchDecodeParams& p) {
  constexpr int kHeadDim = Config::kHeadDim;
  constexpr int kWarps = kBatchDecodeThreads / 32;
  constexpr int kColumns = kHeadDim / 4;  // float4 columns of an output row
  constexpr int kChunkLanes = kBatchDecodeThreads / kColumns;
  static_assert(kBatchDecodeThreads % kColumns == 0, "a CTA must cover whole rows");
  const BatchDecodeMergeItem item = p.merge_items[blockIdx.x];
  const int head = blockIdx.y;
  const int group = p.num_qo_heads / p.num_kv_heads;
  const int kv_head = head / group, row = head % group;
  const int row_block = row / kBatchDecodeRows, row_in_block = row % kBatchDecodeRows;
  auto slot_of = [&](int chunk) {
    const long long slot = item.first_slot + kv_head * item.num_chunks + chunk;
    return (slot * p.num_row_blocks + row_block) * kBatchDecodeRows + row_in_block;
  };
  __shared__ Log2SumExp warp_total[kWarps];
  __shared__ float4 lane_sum[kChunkLanes][kColumns];
  // Launched while the decode grid runs (programmatic dependent launch): the merge item was
  // written at plan time, the partial results are the decode grid's, so wait for it here.
  wait_for_prerequisite_grids();

  // 1. The denominator: the chunks' and the sink's (one term, 2^sink), once.
  Log2SumExp mine{negative_infinity(), 0.f};
  for (int c = threadIdx.x; c < item.num_chunks; c += kBatchDecodeThreads) {
    mine = combine(mine, {p.partial_lse[slot_of(c)], 1.f});
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    mine = combine(mine, {__shfl_xor_sync(0xffffffffu, mine.max, offset),
                          __shfl_xor_sync(0xffffffffu, mine.sum, offset)});
  }
  if (threadIdx.x % 32 == 0) warp_total[threadIdx.x / 32] = mine;
  __syncthreads();
  Log2SumExp total{negative_infinity(), 0.f};
  if constexpr (Config::kUseSinks) total = {p.sinks[head] * 1.4426950408889634f, 1.f};
#pragma unroll
  for (int w = 0; w < kWarps; ++w) total = combine(total, warp_total[w]);
  const float common = safe_max(total.max);
  const float inverse = total.sum > 0.f ? 1.f / total.sum : 0.f;

  // 2. o = sum_c 2^(lse_c - lse) o_c.
  const int column = threadIdx.x % kColumns, chunk_lane = threadIdx.x / kColumns;
  float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 8
  for (int c = chunk_lane; c < item.num_chunks; c += kChunkLanes) {
    const long long slot = slot_of(c);
    const float weight = exp2f(p.partial_lse[slot] - common) * inverse;
    const float4 o = reinterpret_cast<const float4*>(p.partial_o + slot * kHeadDim)[column];
    sum.x += weight * o.x, sum.y += weight * o.y, sum.z += weight * o.z, sum.w += weight * o.w;
  }
  lane_sum[chunk_lane][column] = sum;
  __syncthreads();
  if (chunk_lane == 0) {
#pragma unroll
    for (int lane = 1; lane < kChunkLanes; ++lane) {
      const float4 other = lane_sum[lane][column];
      sum.x += other.x, sum.y += other.y, sum.z += other.z, sum.w += other.w;
    }
    auto* o = static_cast<typename Config::DTypeO*>(p.o) + item.request * p.o_stride_batch +
              head * p.o_stride_head + 4 * column;
    o[0] = from_float<typename Config::DTypeO>(sum.x);
    o[1] = from_float<typename Config::DTypeO>(sum.y);
    o[2] = from_float<typename Config::DTypeO>(sum.z);
    o[3] = from_float<typename Config::DTypeO>(sum.w);
  }
  if (threadIdx.x == 0 && p.lse != nullptr) {
    p.lse[item.request * p.num_qo_heads + head] =
        total.sum > 0.f ? (total.max + log2f(total.sum)) * 0.6931471805599453f
                        : negative_infinity();
  }
}

}  // namespace kjit
