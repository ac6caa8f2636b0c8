// Asynchronous global -> shared copies (cp.async, sm_80+): loads in flight that hold no
// registers, completed in commit groups (PTX ISA, "Data Movement and Conversion Instructions:
// cp.async").
#pragma once

namespace kjit {

// The 32-bit shared-window address cp.async wants, from a generic pointer into shared memory.
__device__ __forceinline__ unsigned shared_address(const void* pointer) {
  unsigned address;
  asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }"
      : "=r"(address)
      : "l"(pointer));
  return address;
}

// Copies 16 bytes from global to shared memory without waiting. The copy bypasses L1 (.cg):
// each byte is read once, so caching it there would only evict other data. kL2PrefetchBytes
// (0, 64, 128 or 256) asks L2 to fetch that much of the surrounding memory with the miss, so
// that a neighbouring CTA's read of the rest of it hits L2 instead of going to DRAM again.
template <int kL2PrefetchBytes = 0>
__device__ __forceinline__ void copy_async_16(unsigned shared, const void* global) {
  static_assert(kL2PrefetchBytes == 0 || kL2PrefetchBytes == 64 || kL2PrefetchBytes == 128 ||
                    kL2PrefetchBytes == 256,
                "cp.async prefetches 64, 128 or 256 bytes");
  if constexpr (kL2PrefetchBytes == 64) {
    asm volatile("cp.async.cg.shared.global.L2::64B [%0], [%1], 16;\n" ::"r"(shared), "l"(global)
                 : "memory");
  } else if constexpr (kL2PrefetchBytes == 128) {
    asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16;\n" ::"r"(shared), "l"(global)
                 : "memory");
  } else if constexpr (kL2PrefetchBytes == 256) {
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16;\n" ::"r"(shared), "l"(global)
                 : "memory");
  } else {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(shared), "l"(global)
                 : "memory");
  }
}

// Copies 4 bytes from global to shared memory without waiting (.ca: the only form that takes
// fewer than 16 bytes), for small inputs read after the tile loop.
__device__ __forceinline__ void copy_async_4(unsigned shared, const void* global) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(shared), "l"(global) : "memory");
}

// Closes the group of copies issued since the last commit (an empty group is allowed).
__device__ __forceinline__ void commit_async_group() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}

// Waits until at most kPending of this thread's groups are still in flight. The copies are then
// visible to this thread only; other threads need a barrier first.
template <int kPending>
__device__ __forceinline__ void wait_async_groups() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// wait_async_groups<pending>() for a pending count known only at run time (0 .. kMax): a
// uniform branch per call, since the count is an immediate of the instruction.
template <int kMax>
__device__ __forceinline__ void wait_async_groups_up_to(int pending) {
  if constexpr (kMax > 0) {
    if (pending >= kMax) {
      wait_async_groups<kMax>();
      return;
    }
    wait_async_groups_up_to<kMax - 1>(pending);
  } else {
    wait_async_groups<0>();
  }
}

}  // namespace kjit
