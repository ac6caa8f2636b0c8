// Launch parameters of the batch decode kernels. Plain C++ shared by the host (runtime/) and the
// device code (NVRTC): keep it free of CUDA-only and standard-library types.
#pragma once

#include "fast_divide.h"

namespace kjit {

// Entry points of the rendered module (extern "C", so these are the symbol names).
constexpr const char* kBatchDecodeEntryPoint = "kjit_batch_decode";
constexpr const char* kBatchDecodeMergeEntryPoint = "kjit_batch_decode_merge";
// An int in the module: the decode entry point's dynamic shared memory, in bytes.
constexpr const char* kBatchDecodeSharedBytesSymbol = "kjit_batch_decode_shared_bytes";

// Threads per CTA of both kernels; the host launches with exactly this many.
constexpr int kBatchDecodeThreads = 128;
// Query heads handled by one CTA: the 16 rows of an m16n8k16 tile.
constexpr int kBatchDecodeRows = 16;
// Tokens per tensor-core tile; work items start on multiples of it.
constexpr int kBatchDecodeTileTokens = 16;
// When no request is split into more chunks than this, split requests are merged inside the decode
// grid, each (request, KV head, row block) by the last of its CTAs to finish: no second kernel to
// wait for. Otherwise the merge kernel merges them all, its CTAs each taking one query head: one
// CTA walking 64 chunks took longer than the kernel boundary it saves (H100, 1 x 32768 tokens as
// 64 chunks: 34.3 us in the grid, 32.0 us with the kernel; 16 chunks of S5's mixed lengths: 48.8
// us in the grid, 50.6 us with the kernel).
constexpr int kInGridMergeMaxChunks = 32;

// One CTA's work: a range of one request's tokens for one KV head (and its query heads).
struct BatchDecodeWorkItem {
  int request;
  int kv_head;
  int token_begin;  // visible tokens [token_begin, token_end) of the request
  int token_end;
  int page_base;     // kv_indptr[request]: the request's first entry in kv_indices
  int partial_slot;  // -1: this item covers the request; write the final output
  // > 0: the request's chunks for this KV head, in slots group_first_slot ..
  // group_first_slot + group_chunks - 1, are merged in the decode grid (kInGridMergeMaxChunks).
  // 0: unsplit, or merged by the merge kernel (a BatchDecodeMergeItem).
  int group_first_slot;
  int group_chunks;
};

// A split request of a plan that splits some request into more than kInGridMergeMaxChunks chunks:
// its partial results are merged by the second kernel.
// The slot of (kv_head h, chunk c) is first_slot + h * num_chunks + c.
struct BatchDecodeMergeItem {
  int request;
  int first_slot;
  int num_chunks;
  int reserved;
};

struct BatchDecodeParams {
  // q[batch, num_qo_heads, head_dim] in dtype_q.
  const void* q;
  // Paged K and V in dtype_kv. Element (page, slot, kv_head, dim) is at
  //   page * kv_stride_page + slot * kv_stride_token + kv_head * kv_stride_head + dim
  // which covers NHD [pages, page_size, h_kv, d], HND [pages, h_kv, page_size, d] and a combined
  // [pages, 2, ...] cache (k and v pointing into it, stride_page spanning both).
  const void* k;
  const void* v;
  // kv_indices[page_base + token / page_size] is the page holding a request's token.
  const int* kv_indices;
  // sinks[num_qo_heads], float32, in the scaled-logit domain. Read only by sink kernels.
  const float* sinks;
  // o[batch, num_qo_heads, head_dim] in dtype_o; lse[batch, num_qo_heads] float32 (natural log
  // of the softmax denominator, sink included) or null.
  void* o;
  float* lse;

  // The schedule (BatchDecodePlan), in the workspace.
  const BatchDecodeWorkItem* work_items;
  const BatchDecodeMergeItem* merge_items;
  float* partial_o;    // [slot][row_block][16][head_dim], already scaled by v_scale
  float* partial_lse;  // [slot][row_block][16], base-2 log of the partial denominator
  // [slot][row_block][2], zero between runs: for a group merged in the decode grid, at its first
  // slot, the tickets its CTAs took when their loops ended and the partial results they published.
  int* group_counters;

  long long q_stride_batch;  // in elements
  long long q_stride_head;
  long long kv_stride_page;
  long long kv_stride_token;
  long long kv_stride_head;
  long long o_stride_batch;
  long long o_stride_head;

  int num_qo_heads;
  int num_kv_heads;    // num_qo_heads is a multiple of it (GQA)
  int num_row_blocks;  // ceil(group size / 16): grid.y of the main kernel
  int page_size;
  FastDivisor page_size_divisor;  // token / page_size without a division in the kernel

  float sm_scale;         // usually 1/sqrt(head_dim)
  float k_scale;          // stored K times k_scale is the real K (FP8 caches)
  float v_scale;          // likewise for V
  float logits_soft_cap;  // scores become cap * tanh(score / cap); read only by capped kernels
};

}  // namespace kjit
