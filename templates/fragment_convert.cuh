// Packing values into 32-bit mma operand registers of the tile's math type (f16 or bf16).
// FP8 converts exactly to f16 (E4M3's and E5M2's ranges and precisions fit in f16), two values
// per instruction on sm_89+ (cvt.rn.f16x2.e4m3x2 / .e5m2x2, via cuda_fp8.h); k_scale and v_scale
// are applied to scores and outputs, never per element.
#pragma once

namespace kjit {

// std::is_same without <type_traits> (NVRTC sees only the embedded headers).
template <typename A, typename B>
struct IsSame {
  static constexpr bool value = false;
};
template <typename A>
struct IsSame<A, A> {
  static constexpr bool value = true;
};

// Two floats -> one register of the math type (lower index in the lower half).
template <bool kBF16>
__device__ __forceinline__ unsigned pack2(float lo, float hi) {
  if constexpr (kBF16) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const unsigned*>(&v);
  } else {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const unsigned*>(&v);
  }
}

// Two FP8 values (lower byte first) -> f16x2.
template <typename FP8>
__device__ __forceinline__ unsigned fp8x2_to_half2(unsigned short pair) {
  constexpr __nv_fp8_interpretation_t kind =
      IsSame<FP8, __nv_fp8_e5m2>::value ? __NV_E5M2 : __NV_E4M3;
  const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(pair, kind);
  return static_cast<unsigned>(h.x) | (static_cast<unsigned>(h.y) << 16);
}

}  // namespace kjit
