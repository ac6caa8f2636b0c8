// Online softmax in base 2 for the two tile rows a thread owns (r and r + 8 of an m16 tile):
// running maximum m, denominator l and the P·V accumulators, all relative to m, so tokens are
// visited once in any order and states of warps or splits merge without a second pass.
#pragma once

namespace kjit {

__device__ __forceinline__ float negative_infinity() { return __int_as_float(0xff800000u); }

// exp2(x - m) is computed as exp2(x - safe(m)): while no token has been seen m is -inf, and
// -inf - -inf would be NaN; subtracting 0 instead keeps every exp2 at exactly 0.
__device__ __forceinline__ float safe_max(float m) { return m == negative_infinity() ? 0.f : m; }

// 2^x as one MUFU.EX2 (ex2.approx.ftz.f32). exp2f adds a range check and two multiplications
// around it to produce subnormal results, which a probability relative to the row's maximum
// never needs: they are below 2^-126 of the largest term. 2^-inf is +0, as the masking needs.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Max over the 4 lanes of a quad (the lanes holding one accumulator row).
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

template <int kOutputTiles>
struct TileSoftmax {
  float max_logit[2] = {negative_infinity(), negative_infinity()};  // rows r, r + 8 (base 2)
  float denominator[2] = {0.f, 0.f};   // this lane's share; quad_sum() gives the row's
  float output[kOutputTiles][4] = {};  // P·V accumulators, C-fragment layout

  // Takes a tile of base-2 logits s[n-tile][c-register] (masked ones -inf), turns them into
  // probabilities relative to the new maximum, and rescales what was accumulated so far.
  // Once the maxima settle most tiles raise none of the warp's 16, and then the rescale (a
  // factor of exactly 1) is skipped: a warp-uniform branch instead of 2 exp2 and 2 x 2 x
  // kOutputTiles multiplications, which count per byte at head_dim 64 and doubly for FP8.
  __device__ __forceinline__ void online_softmax_update(float (&s)[2][4]) {
    float new_max[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {  // half 0: row r (c0, c1); half 1: row r + 8
      const float tile_max = quad_max(fmaxf(fmaxf(s[0][2 * half], s[0][2 * half + 1]),
                                            fmaxf(s[1][2 * half], s[1][2 * half + 1])));
      new_max[half] = fmaxf(max_logit[half], tile_max);
    }
    if (__any_sync(0xffffffffu, new_max[0] > max_logit[0] || new_max[1] > max_logit[1])) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const float rescale = fast_exp2(max_logit[half] - safe_max(new_max[half]));
        denominator[half] *= rescale;
#pragma unroll
        for (int tile = 0; tile < kOutputTiles; ++tile) {
          output[tile][2 * half] *= rescale;
          output[tile][2 * half + 1] *= rescale;
        }
      }
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      max_logit[half] = new_max[half];
      const float subtract = safe_max(new_max[half]);
#pragma unroll
      for (int n = 0; n < 2; ++n) {
#pragma unroll
        for (int i = 2 * half; i < 2 * half + 2; ++i) {
          s[n][i] = fast_exp2(s[n][i] - subtract);
          denominator[half] += s[n][i];
        }
      }
    }
  }
};

}  // namespace kjit
