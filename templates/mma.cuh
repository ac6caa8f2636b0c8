// Warp-level tensor-core tiles (mma.sync m16n8k16, sm_80+), f32 accumulate.
// Fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8k16"): with r = lane / 4 and
// t = lane % 4,
//   A (16x16, row): a[0] = A[r][2t..2t+1], a[1] = A[r+8][2t..2t+1], a[2] = A[r][2t+8..2t+9],
//                   a[3] = A[r+8][2t+8..2t+9]
//   B (16x8, col):  b[0] = B[2t..2t+1][r],   b[1] = B[2t+8..2t+9][r]
//   C (16x8):       c[0..1] = C[r][2t..2t+1], c[2..3] = C[r+8][2t..2t+1]
// Each 32-bit register holds two 16-bit values, the lower index in the lower half.
#pragma once

namespace kjit {

// c += a * b for one m16n8k16 tile; kBF16 selects bf16 operands, otherwise f16.
template <bool kBF16>
__device__ __forceinline__ void mma_m16n8k16(float (&c)[4], const unsigned (&a)[4],
                                             const unsigned (&b)[2]) {
  if constexpr (kBF16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
}

}  // namespace kjit
