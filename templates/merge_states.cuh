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

// One CTA per (split request, query head), in one round of independent loads (a merge is
// latency, not bytes: S3 merges 64 chunks of 64 floats per head). Threads are (chunk lane,
// 16-byte column) pairs: each loads the LSE and its column of every kChunkLanes-th chunk, up to
// kBatch chunks at once, and keeps sum_c 2^(lse_c - m) and sum_c 2^(lse_c - m) o_c relative to
// its own running maximum m; the chunk lanes and the sink are then combined in shared memory.
template <class Config>
__device__ __forceinline__ void merge_states(const BatchDecodeParams& p) {
  constexpr int kHeadDim = Config::kHeadDim;
  constexpr int kColumns = kHeadDim / 4;  // float4 columns of an output row
  constexpr int kChunkLanes = kBatchDecodeThreads / kColumns;
  constexpr int kBatch = 8;  // chunks whose loads a thread has in flight together
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
  __shared__ Log2SumExp lane_total[kChunkLanes];
  __shared__ float4 lane_sum[kChunkLanes][kColumns];
  // The sink is an input, not the decode grid's result: read before the wait, off the path that
  // starts when the decode grid ends.
  const float sink = Config::kUseSinks ? p.sinks[head] * 1.4426950408889634f : 0.f;
  // Launched while the decode grid runs (programmatic dependent launch): the merge item was
  // written at plan time, the partial results are the decode grid's, so wait for it here.
  wait_for_prerequisite_grids();

  const int column = threadIdx.x % kColumns, chunk_lane = threadIdx.x / kColumns;
  Log2SumExp mine{negative_infinity(), 0.f};
  float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);  // relative to mine.max, like mine.sum
  for (int first = chunk_lane; first < item.num_chunks; first += kBatch * kChunkLanes) {
    float lse[kBatch];
    float4 o[kBatch];
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const int chunk = first + i * kChunkLanes;
      lse[i] = negative_infinity();
      o[i] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (chunk < item.num_chunks) {
        const long long slot = slot_of(chunk);
        lse[i] = p.partial_lse[slot];
        o[i] = reinterpret_cast<const float4*>(p.partial_o + slot * kHeadDim)[column];
      }
    }
    float batch_max = mine.max;
#pragma unroll
    for (int i = 0; i < kBatch; ++i) batch_max = fmaxf(batch_max, lse[i]);
    const float rescale = exp2f(mine.max - safe_max(batch_max));
    mine = {batch_max, mine.sum * rescale};
    sum.x *= rescale, sum.y *= rescale, sum.z *= rescale, sum.w *= rescale;
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const float weight = exp2f(lse[i] - safe_max(batch_max));
      mine.sum += weight;
      sum.x += weight * o[i].x, sum.y += weight * o[i].y;
      sum.z += weight * o[i].z, sum.w += weight * o[i].w;
    }
  }
  if (column == 0) lane_total[chunk_lane] = mine;
  lane_sum[chunk_lane][column] = sum;
  __syncthreads();
  if (chunk_lane != 0) return;

  // The denominator: the chunks' and the sink's (one term, 2^sink), once.
  Log2SumExp total{negative_infinity(), 0.f};
  if constexpr (Config::kUseSinks) total = {sink, 1.f};
#pragma unroll
  for (int lane = 0; lane < kChunkLanes; ++lane) total = combine(total, lane_total[lane]);
  const float common = safe_max(total.max);
  const float inverse = total.sum > 0.f ? 1.f / total.sum : 0.f;
  float4 out = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
  for (int lane = 0; lane < kChunkLanes; ++lane) {
    const float weight = exp2f(lane_total[lane].max - common) * inverse;
    const float4 other = lane_sum[lane][column];
    out.x += weight * other.x, out.y += weight * other.y;
    out.z += weight * other.z, out.w += weight * other.w;
  }
  auto* o = static_cast<typename Config::DTypeO*>(p.o) + item.request * p.o_stride_batch +
            head * p.o_stride_head + 4 * column;
  o[0] = from_float<typename Config::DTypeO>(out.x);
  o[1] = from_float<typename Config::DTypeO>(out.y);
  o[2] = from_float<typename Config::DTypeO>(out.z);
  o[3] = from_float<typename Config::DTypeO>(out.w);
  if (column == 0 && p.lse != nullptr) {
    p.lse[item.request * p.num_qo_heads + head] =
        total.sum > 0.f ? (total.max + log2f(total.sum)) * 0.6931471805599453f
                        : negative_infinity();
  }
}

}  // namespace kjit
