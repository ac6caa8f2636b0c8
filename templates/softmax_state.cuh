// Online softmax: a running maximum, denominator and weighted sum of values, so keys can be
// visited once in any order and partial states merged (warps, splits) without a second pass.
#pragma once

namespace kjit {

__device__ __forceinline__ float negative_infinity() { return __int_as_float(0xff800000u); }

template <int kValues>
struct SoftmaxState {
  float max_logit = negative_infinity();  // m
  float denominator = 0.f;                // sum_j exp(s_j - m)
  float weighted[kValues] = {};           // sum_j exp(s_j - m) v_j, this thread's slice

  // Adds one key with logit s and value slice v. Invariant: everything stays relative to m.
  __device__ __forceinline__ void online_softmax_update(float s, const float (&v)[kValues]) {
    const float new_max = fmaxf(max_logit, s);
    const float rescale = __expf(max_logit - new_max);  // 0 while max_logit is -inf
    const float p = __expf(s - new_max);
    denominator = denominator * rescale + p;
#pragma unroll
    for (int i = 0; i < kValues; ++i) weighted[i] = weighted[i] * rescale + p * v[i];
    max_logit = new_max;
  }
};

}  // namespace kjit
