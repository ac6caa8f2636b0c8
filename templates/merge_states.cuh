// Split-KV merge kernel: combines the partial results of requests split into more chunks than
// the decode grid merges itself (kInGridMergeMaxChunks; the math is in partial_merge.cuh).
#pragma once

#include "batch_decode_params.h"
#include "grid_dependency.cuh"
#include "partial_merge.cuh"

namespace kjit {

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
  accumulate_chunks<kHeadDim, kBatch>(p, item.first_slot + kv_head * item.num_chunks, row_block,
                                      row_in_block, column, chunk_lane, kChunkLanes,
                                      item.num_chunks, mine, sum);
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
  float4 out = make_float4(0.f, 0.f, 0.f, 0.f);  // relative to total.max
#pragma unroll
  for (int lane = 0; lane < kChunkLanes; ++lane) {
    const float weight = exp2f(lane_total[lane].max - common);
    const float4 other = lane_sum[lane][column];
    out.x += weight * other.x, out.y += weight * other.y;
    out.z += weight * other.z, out.w += weight * other.w;
  }
  write_merged<typename Config::DTypeO>(p, item.request, head, column, total, out);
}

}  // namespace kjit
