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
// each byte is read once, so caching it there would only evict other data.
__device__ __forceinline__ void copy_async_16(unsigned shared, const void* global) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(shared), "l"(global) : "memory");
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

}  // namespace kjit
