// Split-KV partial results and how they combine (flash-decoding). Each chunk c of a split
// request left o_c (normalised by its own denominator) and lse_c (base 2) in its slot. Then
//   lse = log2(sum_c 2^lse_c + 2^sink),   o = sum_c 2^(lse_c - lse) o_c
// so the sink joins the denominator exactly once, at the merge, and carries no value. Used by the
// merge kernel (merge_states.cuh) and by the decode grid's own merge (batch_decode.cuh).
#pragma once

#include "batch_decode_params.h"
#include "dtype_convert.cuh"
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

// Cross-CTA signalling for the decode grid's own merge (PTX memory model): every chunk's CTA
// publishes its partial result with a release add; the merging CTA reads the count with acquire
// loads. A barrier before the release (warp or CTA) makes the other threads' stores part of it.
__device__ __forceinline__ void release_add(int* counter, int value) {
  asm volatile("red.release.gpu.global.add.s32 [%0], %1;" ::"l"(counter), "r"(value) : "memory");
}
__device__ __forceinline__ int acquire_load(const int* counter) {
  int value;
  asm volatile("ld.acquire.gpu.global.s32 %0, [%1];" : "=r"(value) : "l"(counter) : "memory");
  return value;
}

// Row `row` (of row block `row_block`) of the partial result in `slot`.
__device__ __forceinline__ long long partial_row(const BatchDecodeParams& p, long long slot,
                                                 int row_block, int row) {
  return (slot * p.num_row_blocks + row_block) * kBatchDecodeRows + row;
}

// Adds the chunks first, first + stride, ... below `chunks` (slots first_slot + chunk) of one
// row's 16-byte `column` to (total, sum), `sum` relative to total.max like total.sum, with kBatch
// chunks' loads in flight at a time. The loads go to L2 (.cg): in the decode grid, other CTAs
// wrote these results, and L1 is not coherent with them.
template <int kHeadDim, int kBatch>
__device__ __forceinline__ void accumulate_chunks(const BatchDecodeParams& p, int first_slot,
                                                  int row_block, int row, int column, int first,
                                                  int stride, int chunks, Log2SumExp& total,
                                                  float4& sum) {
  for (; first < chunks; first += kBatch * stride) {
    float lse[kBatch];
    float4 o[kBatch];
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const int chunk = first + i * stride;
      lse[i] = negative_infinity();
      o[i] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (chunk < chunks) {
        const long long at = partial_row(p, first_slot + chunk, row_block, row);
        lse[i] = __ldcg(p.partial_lse + at);
        o[i] = __ldcg(reinterpret_cast<const float4*>(p.partial_o + at * kHeadDim) + column);
      }
    }
    float batch_max = total.max;
#pragma unroll
    for (int i = 0; i < kBatch; ++i) batch_max = fmaxf(batch_max, lse[i]);
    const float rescale = exp2f(total.max - safe_max(batch_max));
    total = {batch_max, total.sum * rescale};
    sum.x *= rescale, sum.y *= rescale, sum.z *= rescale, sum.w *= rescale;
#pragma unroll
    for (int i = 0; i < kBatch; ++i) {
      const float weight = exp2f(lse[i] - safe_max(batch_max));
      total.sum += weight;
      sum.x += weight * o[i].x, sum.y += weight * o[i].y;
      sum.z += weight * o[i].z, sum.w += weight * o[i].w;
    }
  }
}

// Writes one merged 16-byte column of a query head's output, o = sum / total.sum, and from
// column 0 its natural-log LSE when one is asked for.
template <class DTypeO>
__device__ __forceinline__ void write_merged(const BatchDecodeParams& p, int request, int head,
                                             int column, Log2SumExp total, float4 sum) {
  const float inverse = total.sum > 0.f ? 1.f / total.sum : 0.f;
  auto* o =
      static_cast<DTypeO*>(p.o) + request * p.o_stride_batch + head * p.o_stride_head + 4 * column;
  o[0] = from_float<DTypeO>(sum.x * inverse);
  o[1] = from_float<DTypeO>(sum.y * inverse);
  o[2] = from_float<DTypeO>(sum.z * inverse);
  o[3] = from_float<DTypeO>(sum.w * inverse);
  if (column == 0 && p.lse != nullptr) {
    p.lse[request * p.num_qo_heads + head] =
        total.sum > 0.f ? (total.max + log2f(total.sum)) * 0.6931471805599453f
                        : negative_infinity();
  }
}

}  // namespace kjit
