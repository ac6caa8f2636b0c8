// Programmatic dependent launch (sm_90+; PTX ISA, "griddepcontrol"): a grid launched with
// CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION may start while the grid before it in
// the stream still runs, once that grid allows it, and waits explicitly where it needs the
// earlier grid's results. Both calls do nothing for an ordinary launch, and compile to nothing
// before sm_90.
#pragma once

namespace kjit {

// Allows the dependent grid to start once every CTA of this grid has called this or exited.
__device__ __forceinline__ void allow_dependent_launch() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Waits until the grids this one depends on have completed and their writes are visible.
__device__ __forceinline__ void wait_for_prerequisite_grids() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}

}  // namespace kjit
