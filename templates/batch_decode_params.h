// Launch parameters of the batch decode kernel. Plain C++ shared by the host (runtime/) and the
// device code (NVRTC): keep it free of CUDA-only and standard-library types.
#pragma once

namespace kjit {

// Threads per CTA of the batch decode kernel; the host launches with exactly this many.
constexpr int kBatchDecodeThreads = 128;

struct BatchDecodeParams {
  // q[batch, num_qo_heads, head_dim] in dtype_q.
  const void* q;
  // Paged K and V in dtype_kv. Element (page, slot, kv_head, dim) is at
  //   page * kv_stride_page + slot * kv_stride_token + kv_head * kv_stride_head + dim
  // which covers NHD [pages, page_size, h_kv, d], HND [pages, h_kv, page_size, d] and a combined
  // [pages, 2, ...] cache (k and v pointing into it, stride_page spanning both).
  const void* k;
  const void* v;
  // CSR page table: request b owns kv_indices[kv_indptr[b] .. kv_indptr[b+1]); its last page
  // holds kv_last_page_len[b] tokens (1 .. page_size).
  const int* kv_indptr;
  const int* kv_indices;
  const int* kv_last_page_len;
  // sinks[num_qo_heads], float32, in the scaled-logit domain. Read only by sink kernels.
  const float* sinks;
  // o[batch, num_qo_heads, head_dim] in dtype_o; lse[batch, num_qo_heads] float32 (natural log
  // of the softmax denominator, sink included) or null.
  void* o;
  float* lse;

  long long q_stride_batch;  // in elements
  long long q_stride_head;
  long long kv_stride_page;
  long long kv_stride_token;
  long long kv_stride_head;
  long long o_stride_batch;
  long long o_stride_head;

  int batch_size;
  int num_qo_heads;
  int num_kv_heads;  // num_qo_heads is a multiple of it (GQA)
  int page_size;
  int window_left;  // sliding window: the query at position p sees keys p - window_left .. p;
                    // < 0 means no window. Read only by sliding-window kernels.

  float sm_scale;         // usually 1/sqrt(head_dim)
  float k_scale;          // stored K times k_scale is the real K (FP8 caches)
  float v_scale;          // likewise for V
  float logits_soft_cap;  // scores become cap * tanh(score / cap); read only by capped kernels
};

}  // namespace kjit
