// Batch decode attention over a paged KV cache (DESIGN.md §5):
//   s_j = sm_scale * k_scale * <q, k_j>            (then cap * tanh(s_j / cap) if capped)
//   m   = max(max_j s_j, sink)                      (sink = -inf without sinks)
//   den = sum_j exp(s_j - m) + exp(sink - m)
//   o   = v_scale * sum_j exp(s_j - m) v_j / den,   lse = m + log(den)
// over the visible tokens of each request.
//
// Work: one CTA per work item of the host's plan (a token range of one request and one KV head)
// and per block of 16 query heads of that KV head's GQA group (grid.y), so each KV byte is read
// once per group. The 4 warps take 16-token tiles round-robin.
//
// Tiles: S = Q·Kᵀ and O += P·V are mma.sync m16n8k16 with the group's query heads as the 16 rows
// (padded when the group is smaller) and f32 accumulators; P is reused from S's accumulators as
// the A operand (FlashAttention-2). The math type is the KV type (bf16), or f16 for f16 and FP8
// caches (FP8 -> f16 is exact); Q is converted to it once.
//
// Loads: each warp streams its tiles through a private ring of kStages shared-memory stages
// with cp.async (2 for short work items), so kStages - 1 tiles are in flight per warp without
// holding registers. The warp copies whole K and V rows (whole cache lines per instruction);
// each lane then reads exactly the bytes of its operand fragments from a swizzled,
// conflict-free layout (see k_slot): 16 contiguous bytes of a K row, with the dot product's k
// index permuted so that those bytes are the lane's B fragment (Q's A fragment uses the same
// permutation); V in 8- or 16-byte runs of one token row, where a byte permute pairs two
// tokens' values into a B fragment and the output columns are permuted to match.
//
// Bound: memory. Per token and KV head it reads 2·d·b bytes and does 4·16·d flops on tensor
// cores (rows padded to 16); FP8 conversion is one cvt per two values.
#pragma once

#include "async_copy.cuh"
#include "batch_decode_params.h"
#include "dtype_convert.cuh"
#include "fragment_convert.cuh"
#include "grid_dependency.cuh"
#include "mma.cuh"
#include "partial_merge.cuh"
#include "softmax_state.cuh"

namespace kjit {

// A warp with fewer tiles than this in its work item streams them through 2 stages, whatever
// the kernel's kStages (see batch_decode()).
constexpr int kDeepPipelineMinTiles = 8;

template <class Config>
struct DecodeTraits {
  using DTypeQ = typename Config::DTypeQ;
  using DTypeKV = typename Config::DTypeKV;
  using DTypeO = typename Config::DTypeO;
  static constexpr int kHeadDim = Config::kHeadDim;
  static constexpr int kKVBytes = sizeof(DTypeKV);
  static constexpr bool kFP8 = kKVBytes == 1;
  static constexpr bool kBF16Math = IsSame<DTypeKV, nv_bfloat16>::value;
  // f16 queries against bf16 KV would lose 3 mantissa bits in bf16: split q = hi + lo, both
  // bf16, and do Q·Kᵀ twice (decode is not math-bound).
  static constexpr bool kSplitQ = kBF16Math && IsSame<DTypeQ, half>::value;
  static constexpr int kWarps = kBatchDecodeThreads / 32;
  static constexpr int kChunkValues = 16 / kKVBytes;         // values per 16-byte chunk
  static constexpr int kKChunks = kHeadDim * kKVBytes / 64;  // 16-byte K chunks per lane per row
  static constexpr int kKBlocksPerChunk = kChunkValues / 4;  // k16 steps a chunk feeds
  static constexpr int kKBlocks = kHeadDim / 16;             // k16 steps of Q·Kᵀ
  static constexpr int kVRun = 16 / kKVBytes < kHeadDim / 8 ? 16 / kKVBytes : kHeadDim / 8;
  static constexpr int kVLoads = kHeadDim / (8 * kVRun);  // V runs per lane per token row
  static constexpr int kVRunBytes = kVRun * kKVBytes;     // 8 or 16
  static constexpr int kOutputTiles = kHeadDim / 8;       // n8 tiles of P·V
  static_assert(kKChunks >= 1 && kVLoads >= 1, "unsupported head_dim / KV dtype");

  // One tile in a stage: K's 16 rows, then V's, each row kRowBytes long in 16-byte slots.
  static constexpr int kRowBytes = kHeadDim * kKVBytes;
  static constexpr int kRowSlots = kRowBytes / 16;
  static constexpr int kStageBytes = 2 * kBatchDecodeTileTokens * kRowBytes;
  static constexpr int kCopiesPerLane = kBatchDecodeTileTokens * kRowSlots / 32;  // per K or V
  static constexpr int kStages = Config::kStages;
  static constexpr int kL2PrefetchBytes = Config::kL2PrefetchBytes;
  static constexpr bool kQInShared = Config::kQInShared;
  static_assert(kStages >= 2, "a pipeline needs at least 2 stages");
  // The epilogue reuses the stages: warps 1..3's 16 output rows in float32, in fragment order,
  // rows padded by 8 floats so that the 4 rows a half-warp stores to (or loads from) at once with
  // 8-byte accesses start in different banks: conflict-free.
  static constexpr int kOutputStride = kHeadDim + 8;
  static constexpr int kStagingBytes = kWarps * kStages * kStageBytes;
  static constexpr int kEpilogueBytes = (kWarps - 1) * kBatchDecodeRows * kOutputStride * 4;
  static constexpr int kSharedBytes =
      kStagingBytes > kEpilogueBytes ? kStagingBytes : kEpilogueBytes;
};

// Raw bytes of one load, as 32-bit words.
template <int kBytes>
struct Words {
  unsigned w[kBytes / 4];
};

template <int kBytes>
__device__ __forceinline__ Words<kBytes> load_words(const char* address) {
  Words<kBytes> out;
  if constexpr (kBytes == 16) {
    const uint4 v = *reinterpret_cast<const uint4*>(address);
    out.w[0] = v.x, out.w[1] = v.y, out.w[2] = v.z, out.w[3] = v.w;
  } else {
    const uint2 v = *reinterpret_cast<const uint2*>(address);
    out.w[0] = v.x, out.w[1] = v.y;
  }
  return out;
}

// The head dimension that k-block j, position p (0..3) of lane t stands for: lane t's 16-byte
// chunk c holds values [(4c + t) E, (4c + t) E + E), E values per chunk, feeding E / 4 k-blocks.
template <class Traits>
__device__ __forceinline__ int permuted_k_dim(int j, int t, int p) {
  const int chunk = j / Traits::kKBlocksPerChunk, within = j % Traits::kKBlocksPerChunk;
  return (4 * chunk + t) * Traits::kChunkValues + 4 * within + p;
}

// The head dimension of column n (0..7) of P·V output tile `tile`: lane r reads the run
// [g·8·R + r·R, +R) of each V row, R = kVRun values, which feeds tiles g·R .. g·R + R - 1.
template <class Traits>
__device__ __forceinline__ int permuted_v_dim(int tile, int n) {
  return (tile / Traits::kVRun) * 8 * Traits::kVRun + n * Traits::kVRun + tile % Traits::kVRun;
}

// Element offset of a token's row for one KV head (token >= 0).
__device__ __forceinline__ long long token_offset(const BatchDecodeParams& p,
                                                  const BatchDecodeWorkItem& item, int token) {
  const int page_in_request = fast_divide(token, p.page_size_divisor);
  const int slot = token - page_in_request * p.page_size;
  const int page = p.kv_indices[item.page_base + page_in_request];
  return page * p.kv_stride_page + slot * p.kv_stride_token + item.kv_head * p.kv_stride_head;
}

// Element offset of a tile's first row when pages hold whole tiles (page_size % 16 == 0): one
// page-table read per tile, issued a tile ahead of the tile's loads so they never wait for it.
// 0 (unused) otherwise, or past the item's end.
__device__ __forceinline__ long long tile_offset(const BatchDecodeParams& p,
                                                 const BatchDecodeWorkItem& item, int base,
                                                 int end_base) {
  if (p.page_size % kBatchDecodeTileTokens != 0 || base >= end_base) return 0;
  return token_offset(p, item, base);
}

// Stage layout. The warp copies whole rows (consecutive lanes take consecutive 16-byte slots of
// a row, so each copy instruction asks L2 for whole lines), but each lane later reads the bytes
// of its own fragments: lane (r, t) = (lane / 4, lane % 4) reads K rows 8n + r, slots 4c + t, and
// V rows {2t, 2t + 1, 2t + 8, 2t + 9}, runs g·8 + r. Slots are XOR-swizzled within each row so
// that those reads are free of bank conflicts (each 8-lane phase of a 16-byte read, or 16-lane
// phase of an 8-byte one, lands on distinct banks):
//   K: rows of >= 8 slots swap slot halves on odd rows (rows 8n + 2p and 8n + 2p + 1 share a
//      phase); 4-slot rows (FP8, d 64) need nothing: consecutive rows already alternate halves.
//   V: slot ^ 2·((row / 2) % 4) for 16-byte runs (a phase reads runs r = 2p, 2p + 1 of rows
//      2t + ...: t spreads them over all 8 slots); for 8-byte runs (FP8, d 64), slot ^ 2 on rows
//      with t odd, which makes each bank serve two lanes, the fewest for 64-byte rows.
template <class Traits>
__device__ __forceinline__ int k_slot(int slot, int row) {
  if constexpr (Traits::kRowSlots >= 8) {
    return slot ^ (4 * (row & 1));
  } else {
    return slot;
  }
}

template <class Traits>
__device__ __forceinline__ int v_slot(int slot, int row) {
  if constexpr (Traits::kVRunBytes == 16) {
    return slot ^ (2 * ((row >> 1) & 3));
  } else {
    return slot ^ (2 * ((row >> 1) & 1));
  }
}

// Issues the copies of the tile starting at token `base` (`offset` from tile_offset()) into a
// stage. Tokens outside the item's range are clamped into it (and masked later); they stay
// inside the tile.
template <class Traits>
__device__ __forceinline__ void issue_tile(const BatchDecodeParams& p,
                                           const BatchDecodeWorkItem& item, int base,
                                           long long offset, int lane, unsigned stage) {
  const char* k_base = static_cast<const char*>(p.k);
  const char* v_base = static_cast<const char*>(p.v);
  const int last_token = item.token_end - 1;
  const bool tile_in_one_page = p.page_size % kBatchDecodeTileTokens == 0;
  const unsigned v_stage = stage + kBatchDecodeTileTokens * Traits::kRowBytes;
#pragma unroll
  for (int i = 0; i < Traits::kCopiesPerLane; ++i) {
    const int unit = lane + 32 * i;
    const int row = unit / Traits::kRowSlots, slot = unit % Traits::kRowSlots;
    const int token = min(max(base + row, item.token_begin), last_token);
    const long long row_offset =
        tile_in_one_page ? (offset + (token - base) * p.kv_stride_token) * Traits::kKVBytes
                         : token_offset(p, item, token) * Traits::kKVBytes;
    constexpr int kPrefetch = Traits::kL2PrefetchBytes;
    copy_async_16<kPrefetch>(stage + row * Traits::kRowBytes + k_slot<Traits>(slot, row) * 16,
                             k_base + row_offset + slot * 16);
    copy_async_16<kPrefetch>(v_stage + row * Traits::kRowBytes + v_slot<Traits>(slot, row) * 16,
                             v_base + row_offset + slot * 16);
  }
}

// This lane's 16 bytes of K chunk c of row `row` (its slot 4c + t), and its V run `g` of row
// `row` (run g·8 + r, kVRunBytes long), from a landed stage.
template <class Traits>
__device__ __forceinline__ Words<16> read_k_chunk(const char* stage, int row, int slot) {
  return load_words<16>(stage + row * Traits::kRowBytes + k_slot<Traits>(slot, row) * 16);
}

template <class Traits>
__device__ __forceinline__ Words<Traits::kVRunBytes> read_v_run(const char* stage, int row,
                                                                int run) {
  constexpr int kRunsPerSlot = 16 / Traits::kVRunBytes;
  const int slot = run / kRunsPerSlot, within = run % kRunsPerSlot;
  return load_words<Traits::kVRunBytes>(stage + (kBatchDecodeTileTokens + row) * Traits::kRowBytes +
                                        v_slot<Traits>(slot, row) * 16 +
                                        within * Traits::kVRunBytes);
}

// B fragment of K for k-block `within` of a 16-byte chunk.
template <class Traits>
__device__ __forceinline__ void k_fragment(const Words<16>& chunk, int within, unsigned (&b)[2]) {
  if constexpr (Traits::kFP8) {
    b[0] = fp8x2_to_half2<typename Traits::DTypeKV>(chunk.w[within] & 0xffffu);
    b[1] = fp8x2_to_half2<typename Traits::DTypeKV>(chunk.w[within] >> 16);
  } else {
    b[0] = chunk.w[2 * within];
    b[1] = chunk.w[2 * within + 1];
  }
}

// Value e of a V run from two token rows, paired into one f16x2 / bf16x2 register.
template <class Traits>
__device__ __forceinline__ unsigned v_pair(const Words<Traits::kVRunBytes>& first,
                                           const Words<Traits::kVRunBytes>& second, int e) {
  if constexpr (Traits::kFP8) {
    const unsigned byte = e % 4;
    const unsigned pair = __byte_perm(first.w[e / 4], second.w[e / 4], byte | ((4 + byte) << 4));
    return fp8x2_to_half2<typename Traits::DTypeKV>(pair & 0xffffu);
  } else {
    return __byte_perm(first.w[e / 2], second.w[e / 2], e % 2 ? 0x7632 : 0x5410);
  }
}

// The last CTA of a split group (request, KV head, row block) merges the group's partial results
// into the output. Threads take (row, 16-byte column) pairs, each with up to 16 chunks' loads in
// flight: kInGridMergeMaxChunks needs at most two rounds.
template <class Config>
__device__ __forceinline__ void merge_group_in_grid(const BatchDecodeParams& p,
                                                    const BatchDecodeWorkItem& item, int row_block,
                                                    int rows, int first_head,
                                                    const float* group_sinks) {
  constexpr int kColumns = Config::kHeadDim / 4;
  for (int pair = threadIdx.x; pair < rows * kColumns; pair += kBatchDecodeThreads) {
    const int row = pair / kColumns, column = pair % kColumns;
    // The denominator starts with the sink's term, 2^sink (it joins once, here, with no value).
    Log2SumExp total{negative_infinity(), 0.f};
    if constexpr (Config::kUseSinks) total = {group_sinks[row] * 1.4426950408889634f, 1.f};
    float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
    accumulate_chunks<Config::kHeadDim, 16>(p, item.group_first_slot, row_block, row, column, 0, 1,
                                            item.group_chunks, total, sum);
    write_merged<typename Config::DTypeO>(p, item.request, first_head + row, column, total, sum);
  }
}

template <class Config>
__device__ __forceinline__ void batch_decode(const BatchDecodeParams& p) {
  using Traits = DecodeTraits<Config>;
  constexpr int kHeadDim = Traits::kHeadDim;
  constexpr bool kBF16 = Traits::kBF16Math;
  allow_dependent_launch();  // the merge grid may start; it waits for this grid's results
  const BatchDecodeWorkItem item = p.work_items[blockIdx.x];
  const int row_block = blockIdx.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int r = lane / 4, t = lane % 4;
  const int group = p.num_qo_heads / p.num_kv_heads;
  const int first_head = item.kv_head * group + row_block * kBatchDecodeRows;
  const int rows = min(kBatchDecodeRows, group - row_block * kBatchDecodeRows);

  const int first_tile = item.token_begin / kBatchDecodeTileTokens;
  const int end_tile = (item.token_end + kBatchDecodeTileTokens - 1) / kBatchDecodeTileTokens;
  // Warps take tiles round-robin, each through its own ring of `depth` stages: tile i waits in
  // stage i % depth while tiles i + 1 .. i + depth - 1 are in flight. Every iteration commits
  // one group (empty past the end), so "all but depth - 2 groups done" means tile i has landed.
  // The stage refilled in iteration i is the one read in iteration i - 1, whose registers
  // process_tile has consumed. Page indices are read one tile ahead of the copies that use them.
  // The first tiles are requested before Q is read, so that Q's latency hides under theirs
  // (a short work item, as in split-KV, is mostly such latencies).
  // depth is kStages only for items long enough to use it: a deeper ring made short items
  // slower (H100, FP8 at head_dim 64 with 3 stages: S6's 2-3 tiles per warp 12.6 -> 13.8 us,
  // while S1's 64 tiles per warp went 103.7 -> 102.4 us).
  constexpr int kStages = Traits::kStages;
  constexpr int kStride = Traits::kWarps * kBatchDecodeTileTokens;
  const int tiles_per_warp = (end_tile - first_tile + Traits::kWarps - 1) / Traits::kWarps;
  const int depth = tiles_per_warp >= kDeepPipelineMinTiles ? kStages : 2;
  // 128-byte aligned: the stages' swizzles assume rows start on 128-byte boundaries (the bank
  // cycle). Dynamic shared memory follows the static arrays below, whose sizes change with the
  // variant: at 16-byte alignment 64 bytes more of them shifted the stages by half a cycle and made
  // BF16 d 64 kernels 6 % slower (H100, S1).
  extern __shared__ __align__(128) char shared_bytes[];
  char* const stages = shared_bytes + warp * kStages * Traits::kStageBytes;
  const unsigned stages_address = shared_address(stages);
  const int end_base = end_tile * kBatchDecodeTileTokens;
  const int first_base = (first_tile + warp) * kBatchDecodeTileTokens;
  long long offset = tile_offset(p, item, first_base, end_base);
  // An unsplit item's epilogue (and a split's merge in this grid) needs the group's sinks: copied
  // to shared memory with the first tile (warp 0's first group), they are there when the loop ends,
  // with no round trip after it and no registers held across it. (Held in registers instead, loaded
  // with Q, they made BF16 sink kernels 3-6 % slower on H100, for a reason not found.)
  __shared__ float group_sinks[kBatchDecodeRows];
  if constexpr (Config::kUseSinks) {
    if ((item.partial_slot < 0 || item.group_chunks > 0) && threadIdx.x < rows) {
      copy_async_4(shared_address(&group_sinks[threadIdx.x]), p.sinks + first_head + threadIdx.x);
    }
  }
#pragma unroll
  for (int i = 0; i < kStages - 1; ++i) {
    if (i == depth - 1) break;
    const int base = first_base + i * kStride;
    const long long next_offset = tile_offset(p, item, base + kStride, end_base);
    if (base < end_base) {
      issue_tile<Traits>(p, item, base, offset, lane, stages_address + i * Traits::kStageBytes);
    }
    commit_async_group();
    offset = next_offset;
  }

  // Q as A fragments (rows r and r + 8; rows past the group are zero), permuted like K. With
  // kQInShared (a tunable: for kernels whose register cap would otherwise spill) warp 0 builds
  // them (and the residuals, with kSplitQ) and leaves them in shared memory, lane-major so that
  // each k-block is one conflict-free 16-byte load per lane, and the loop reads them back there
  // instead of holding them.
  unsigned q_fragment[Traits::kKBlocks][4];
  unsigned q_residual[Traits::kSplitQ ? Traits::kKBlocks : 1][4];  // q - hi, when kSplitQ
  constexpr int kQSharedBlocks = Traits::kQInShared ? Traits::kKBlocks : 1;
  __shared__ uint4 q_shared[Traits::kSplitQ ? 2 : 1][kQSharedBlocks][32];
  if (!Traits::kQInShared || warp == 0) {
    const typename Traits::DTypeQ* q =
        static_cast<const typename Traits::DTypeQ*>(p.q) + item.request * p.q_stride_batch;
#pragma unroll
    for (int j = 0; j < Traits::kKBlocks; ++j) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int row = r + 8 * half;
        float v[4] = {0.f, 0.f, 0.f, 0.f};
        if (row < rows) {
          const auto* head = q + (first_head + row) * p.q_stride_head;
#pragma unroll
          for (int i = 0; i < 4; ++i) v[i] = to_float(head[permuted_k_dim<Traits>(j, t, i)]);
        }
        q_fragment[j][half] = pack2<kBF16>(v[0], v[1]);
        q_fragment[j][2 + half] = pack2<kBF16>(v[2], v[3]);
        if constexpr (Traits::kSplitQ) {
          float rest[4];
#pragma unroll
          for (int i = 0; i < 4; ++i) rest[i] = v[i] - __bfloat162float(__float2bfloat16_rn(v[i]));
          q_residual[j][half] = pack2<kBF16>(rest[0], rest[1]);
          q_residual[j][2 + half] = pack2<kBF16>(rest[2], rest[3]);
        }
      }
      if constexpr (Traits::kQInShared) {
        q_shared[0][j][lane] =
            make_uint4(q_fragment[j][0], q_fragment[j][1], q_fragment[j][2], q_fragment[j][3]);
        if constexpr (Traits::kSplitQ) {
          q_shared[1][j][lane] =
              make_uint4(q_residual[j][0], q_residual[j][1], q_residual[j][2], q_residual[j][3]);
        }
      }
    }
  }
  if constexpr (Traits::kQInShared) __syncthreads();

  // log2(e) folded in: the softmax runs in base 2.
  const float score_scale = p.sm_scale * p.k_scale * 1.4426950408889634f;
  TileSoftmax<Traits::kOutputTiles> state;

  // One landed tile: S = Q·Kᵀ, online softmax, O += P·V. Operands are read from the stage just
  // before their MMAs, so K's and V's registers are never live at the same time.
  auto process_tile = [&](const char* stage, int base) {
    // S = Q·Kᵀ: two n8 tiles of 8 tokens.
    float s[2][4] = {};
#pragma unroll
    for (int c = 0; c < Traits::kKChunks; ++c) {
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        const Words<16> chunk = read_k_chunk<Traits>(stage, 8 * n + r, 4 * c + t);
#pragma unroll
        for (int within = 0; within < Traits::kKBlocksPerChunk; ++within) {
          const int j = c * Traits::kKBlocksPerChunk + within;
          unsigned b[2];
          k_fragment<Traits>(chunk, within, b);
          if constexpr (Traits::kQInShared) {
            const uint4 q = q_shared[0][j][lane];
            const unsigned a[4] = {q.x, q.y, q.z, q.w};
            mma_m16n8k16<kBF16>(s[n], a, b);
            if constexpr (Traits::kSplitQ) {
              const uint4 rest = q_shared[1][j][lane];
              const unsigned a_rest[4] = {rest.x, rest.y, rest.z, rest.w};
              mma_m16n8k16<kBF16>(s[n], a_rest, b);
            }
          } else {
            mma_m16n8k16<kBF16>(s[n], q_fragment[j], b);
            if constexpr (Traits::kSplitQ) mma_m16n8k16<kBF16>(s[n], q_residual[j], b);
          }
        }
      }
    }
    // Scale (and cap) in float32; column 2t + (i & 1) of tile n.
#pragma unroll
    for (int n = 0; n < 2; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float x = s[n][i] * score_scale;
        if constexpr (Config::kUseLogitsCap) {
          const float cap = p.logits_soft_cap * 1.4426950408889634f;  // in base-2 units
          x = cap * tanhf(x / cap);
        }
        s[n][i] = x;
      }
    }
    // Mask tokens outside the item: only its first and last tiles have any, so the other tiles
    // skip the per-value compares (a warp-uniform branch; ~10 % of an FP8 tile's instructions).
    if (base < item.token_begin || base + kBatchDecodeTileTokens > item.token_end) {
#pragma unroll
      for (int n = 0; n < 2; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const int token = base + 8 * n + 2 * t + (i & 1);
          if (token < item.token_begin || token >= item.token_end) s[n][i] = negative_infinity();
        }
      }
    }
    state.online_softmax_update(s);

    // O += P·V, P from S's accumulators.
    const unsigned p_fragment[4] = {pack2<kBF16>(s[0][0], s[0][1]), pack2<kBF16>(s[0][2], s[0][3]),
                                    pack2<kBF16>(s[1][0], s[1][1]), pack2<kBF16>(s[1][2], s[1][3])};
#pragma unroll
    for (int g = 0; g < Traits::kVLoads; ++g) {
      Words<Traits::kVRunBytes> v_run[4];
#pragma unroll
      for (int row = 0; row < 4; ++row) {
        v_run[row] = read_v_run<Traits>(stage, 8 * (row / 2) + 2 * t + row % 2, g * 8 + r);
      }
#pragma unroll
      for (int e = 0; e < Traits::kVRun; ++e) {
        const unsigned b[2] = {v_pair<Traits>(v_run[0], v_run[1], e),
                               v_pair<Traits>(v_run[2], v_run[3], e)};
        mma_m16n8k16<kBF16>(state.output[g * Traits::kVRun + e], p_fragment, b);
      }
    }
  };

  int stage = 0;
  for (int base = first_base; base < end_base; base += kStride) {
    wait_async_groups_up_to<kStages - 2>(depth - 2);
    __syncwarp();  // the stage was filled by every lane; each reads rows others copied
    const int refill = stage == 0 ? depth - 1 : stage - 1;
    const int ahead = base + (depth - 1) * kStride;
    const long long next_offset = tile_offset(p, item, ahead + kStride, end_base);
    if (ahead < end_base) {
      issue_tile<Traits>(p, item, ahead, offset, lane,
                         stages_address + refill * Traits::kStageBytes);
    }
    commit_async_group();
    offset = next_offset;
    process_tile(stages + stage * Traits::kStageBytes, base);
    stage = stage == depth - 1 ? 0 : stage + 1;
  }
  wait_async_groups<0>();
  // A split merged in this grid: the CTA that takes the group's last ticket merges it. Taken as the
  // loop ends, the ticket's round trip hides under the epilogue; the last ticket also means every
  // other chunk's CTA has started, so waiting for their results cannot deadlock.
  int* const group_counters =
      item.group_chunks > 0
          ? p.group_counters + 2 * (item.group_first_slot * p.num_row_blocks + row_block)
          : nullptr;
  int ticket = 0;
  if (group_counters != nullptr && threadIdx.x == 0) ticket = atomicAdd(group_counters, 1);
  __syncthreads();  // every warp is done with its stages: the epilogue reuses them

  // Merge the warps. Warps 1..3 store their accumulators, unscaled and in fragment order, with
  // their row maxima and denominators; warp 0 adds them to its own, in registers, and writes the
  // output from the fragment layout. One barrier, and no thread waits for a separate per-row
  // pass: each lane computes the weights of its two rows (the 4 lanes of a quad, the same ones).
  // (Summed into one array by atomicAdd instead, each add was a compare-and-swap loop,
  // ATOMS.CAST.SPIN: a 3.4 us epilogue per CTA, measured with %globaltimer on H100; summed by all
  // 128 threads after a per-row pass, 1.5 us.)
  // Indexed by warp; warp 0's entries stay unused (it keeps its own in registers).
  __shared__ float warp_max[Traits::kWarps][kBatchDecodeRows];
  __shared__ float warp_denominator[Traits::kWarps][kBatchDecodeRows];
  float* const warp_outputs = reinterpret_cast<float*>(shared_bytes);  // warps 1.. at w - 1
  auto output_at = [&](int w, int row, int tile_n) {
    return reinterpret_cast<float2*>(
        &warp_outputs[((w - 1) * kBatchDecodeRows + row) * Traits::kOutputStride + tile_n * 8 +
                      2 * t]);
  };
  float denominator[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = r + 8 * half;
    denominator[half] = quad_sum(state.denominator[half]);
    if (warp > 0) {
      if (t == 0) {
        warp_max[warp][row] = state.max_logit[half];
        warp_denominator[warp][row] = denominator[half];
      }
#pragma unroll
      for (int tile_n = 0; tile_n < Traits::kOutputTiles; ++tile_n) {
        *output_at(warp, row, tile_n) =
            make_float2(state.output[tile_n][2 * half], state.output[tile_n][2 * half + 1]);
      }
    }
  }
  __syncthreads();
  if (warp > 0 && group_counters == nullptr) return;

#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = r + 8 * half;
    // Warps 1..3 only stay for a merge in this grid; row past the group: so is this lane's next.
    if (warp > 0 || row >= rows) break;
    float max_logit = state.max_logit[half];
#pragma unroll
    for (int w = 1; w < Traits::kWarps; ++w) max_logit = fmaxf(max_logit, warp_max[w][row]);
    float sum = 0.f;  // the denominator
    if constexpr (Config::kUseSinks) {
      if (item.partial_slot < 0) {  // the sink joins the denominator once: here, or in the merge
        const float sink = group_sinks[row] * 1.4426950408889634f;
        max_logit = fmaxf(max_logit, sink);
        sum = exp2f(sink - safe_max(max_logit));
      }
    }
    float weight[Traits::kWarps];
    weight[0] = exp2f(state.max_logit[half] - safe_max(max_logit));
    sum += denominator[half] * weight[0];
#pragma unroll
    for (int w = 1; w < Traits::kWarps; ++w) {
      weight[w] = exp2f(warp_max[w][row] - safe_max(max_logit));
      sum += warp_denominator[w][row] * weight[w];
    }
    const float scale = sum > 0.f ? p.v_scale / sum : 0.f;
#pragma unroll
    for (int w = 0; w < Traits::kWarps; ++w) weight[w] *= scale;
    const float lse = sum > 0.f ? max_logit + log2f(sum) : negative_infinity();

    // Write: the final output, or this split's partial result.
    const int head = first_head + row;
    auto* const o = static_cast<typename Traits::DTypeO*>(p.o) + item.request * p.o_stride_batch +
                    head * p.o_stride_head;
    const long long slot = partial_row(p, item.partial_slot, row_block, row);
    // Tiles g·R .. g·R + R - 1 (R = kVRun) hold, at fragment value i, the R consecutive dimensions
    // starting at permuted_v_dim(g·R, 2t + i): a split's float32 partial result goes out in
    // 16-byte stores (the workspace is 16-byte aligned, head_dim a multiple of 8).
    constexpr int kRun = Traits::kVRun;
    static_assert(Traits::kOutputTiles % kRun == 0 && kRun % 4 == 0, "whole runs of float4");
#pragma unroll
    for (int g = 0; g < Traits::kOutputTiles / kRun; ++g) {
      float value[2][kRun];
#pragma unroll
      for (int e = 0; e < kRun; ++e) {
        const int tile_n = g * kRun + e;
        value[0][e] = state.output[tile_n][2 * half] * weight[0];
        value[1][e] = state.output[tile_n][2 * half + 1] * weight[0];
#pragma unroll
        for (int w = 1; w < Traits::kWarps; ++w) {
          const float2 other = *output_at(w, row, tile_n);
          value[0][e] += other.x * weight[w];
          value[1][e] += other.y * weight[w];
        }
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int first_dim = permuted_v_dim<Traits>(g * kRun, 2 * t + i);
        if (item.partial_slot < 0) {
#pragma unroll
          for (int e = 0; e < kRun; ++e) {
            o[first_dim + e] = from_float<typename Traits::DTypeO>(value[i][e]);
          }
        } else {
          float4* const partial =
              reinterpret_cast<float4*>(p.partial_o + slot * kHeadDim + first_dim);
#pragma unroll
          for (int k = 0; k < kRun / 4; ++k) {
            partial[k] = make_float4(value[i][4 * k], value[i][4 * k + 1], value[i][4 * k + 2],
                                     value[i][4 * k + 3]);
          }
        }
      }
    }
    if (t == 0) {
      if (item.partial_slot >= 0) {
        p.partial_lse[slot] = lse;
      } else if (p.lse != nullptr) {
        p.lse[item.request * p.num_qo_heads + head] = lse * 0.6931471805599453f;
      }
    }
  }
  if (group_counters == nullptr) return;

  // The merge in this grid. Warp 0 wrote this chunk's result; it is published, and the CTA with
  // the last ticket waits until every chunk's is, then merges them all.
  __shared__ bool merges_group;
  if (warp == 0) {
    __syncwarp();
    if (lane == 0) {
      release_add(group_counters + 1, 1);
      merges_group = ticket == item.group_chunks - 1;
    }
  }
  __syncthreads();
  if (!merges_group) return;
  if (threadIdx.x == 0) {
    while (acquire_load(group_counters + 1) < item.group_chunks) {
    }
    group_counters[0] = group_counters[1] = 0;  // every chunk has counted: ready for the next run
  }
  __syncthreads();
  merge_group_in_grid<Config>(p, item, row_block, rows, first_head, group_sinks);
}

}  // namespace kjit
