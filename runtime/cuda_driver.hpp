// The CUDA driver API, loaded at run time with dlopen: nothing in kjit links libcuda, so the
// library, the CLI and the tests start on machines without a GPU. cuda.h is used for its types
// only.
#pragma once

#include <string>

#include <cuda.h>

namespace kjit {

struct CudaDriver {
  // Function pointers, resolved by their versioned symbol names (cuMemAlloc -> cuMemAlloc_v2).
#define KJIT_CUDA_DRIVER_FUNCTIONS(X)            \
  X(cuInit)                                      \
  X(cuDriverGetVersion)                          \
  X(cuGetErrorName)                              \
  X(cuGetErrorString)                            \
  X(cuDeviceGetCount)                            \
  X(cuDeviceGet)                                 \
  X(cuDeviceGetName)                             \
  X(cuDeviceGetAttribute)                        \
  X(cuDeviceTotalMem)                            \
  X(cuDevicePrimaryCtxRetain)                    \
  X(cuDevicePrimaryCtxRelease)                   \
  X(cuCtxGetCurrent)                             \
  X(cuCtxSetCurrent)                             \
  X(cuCtxGetDevice)                              \
  X(cuCtxSynchronize)                            \
  X(cuModuleLoadData)                            \
  X(cuModuleUnload)                              \
  X(cuModuleGetFunction)                         \
  X(cuModuleGetGlobal)                           \
  X(cuFuncSetAttribute)                          \
  X(cuFuncGetAttribute)                          \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor) \
  X(cuLaunchKernel)                              \
  X(cuLaunchKernelEx)                            \
  X(cuMemAlloc)                                  \
  X(cuMemFree)                                   \
  X(cuMemcpyHtoD)                                \
  X(cuMemcpyDtoH)                                \
  X(cuMemcpyDtoDAsync)                           \
  X(cuMemcpyHtoDAsync)                           \
  X(cuMemcpyDtoHAsync)                           \
  X(cuMemsetD8)                                  \
  X(cuMemsetD8Async)                             \
  X(cuStreamSynchronize)                         \
  X(cuEventCreate)                               \
  X(cuEventDestroy)                              \
  X(cuEventRecord)                               \
  X(cuEventSynchronize)                          \
  X(cuEventElapsedTime)

#define KJIT_DECLARE_POINTER(name) decltype(&::name) name = nullptr;
  KJIT_CUDA_DRIVER_FUNCTIONS(KJIT_DECLARE_POINTER)
#undef KJIT_DECLARE_POINTER

  std::string library_path;  // what was loaded
};

// The process-wide driver, loaded and cuInit'ed on first use. Search order: $KJIT_LIBCUDA, a
// libcuda already loaded in the process, libcuda.so.1, libcuda.so. Throws CudaError listing every
// path tried when none loads, or when cuInit reports no device.
const CudaDriver& cuda_driver();

// True when a driver loads and reports at least one device; never throws.
bool cuda_available();

// Throws CudaError "<call> failed: <name>: <description>" unless result is CUDA_SUCCESS.
void check_cuda(CUresult result, const char* call);
#define KJIT_CUDA_CHECK(call) ::kjit::check_cuda((call), #call)

}  // namespace kjit
