#include "loaded_module.hpp"

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit {
namespace {

// Primary contexts are retained once per device and never released: kernels stay loaded in them
// for the life of the process.
CUcontext primary_context(int device) {
  static std::mutex mutex;
  static std::map<int, CUcontext> contexts;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = contexts.find(device);
  if (found != contexts.end()) return found->second;
  const CudaDriver& cu = cuda_driver();
  CUdevice handle = 0;
  KJIT_CUDA_CHECK(cu.cuDeviceGet(&handle, device));
  CUcontext context = nullptr;
  KJIT_CUDA_CHECK(cu.cuDevicePrimaryCtxRetain(&context, handle));
  contexts[device] = context;
  return context;
}

// Makes a device's primary context current for a scope, restoring the caller's afterwards.
class ScopedContext {
 public:
  explicit ScopedContext(int device) {
    const CudaDriver& cu = cuda_driver();
    KJIT_CUDA_CHECK(cu.cuCtxGetCurrent(&previous_));
    KJIT_CUDA_CHECK(cu.cuCtxSetCurrent(primary_context(device)));
  }
  ~ScopedContext() { cuda_driver().cuCtxSetCurrent(previous_); }

 private:
  CUcontext previous_ = nullptr;
};

}  // namespace

void make_primary_context_current(int device) {
  KJIT_CUDA_CHECK(cuda_driver().cuCtxSetCurrent(primary_context(device)));
}

int current_device() {
  const CudaDriver& cu = cuda_driver();
  CUcontext context = nullptr;
  KJIT_CUDA_CHECK(cu.cuCtxGetCurrent(&context));
  if (context == nullptr) {
    make_primary_context_current(0);
    return 0;
  }
  CUdevice device = 0;
  KJIT_CUDA_CHECK(cu.cuCtxGetDevice(&device));
  return static_cast<int>(device);
}

GpuArch device_arch(int device) {
  static std::mutex mutex;
  static std::map<int, GpuArch> archs;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = archs.find(device);
  if (found != archs.end()) return found->second;
  const CudaDriver& cu = cuda_driver();
  CUdevice handle = 0;
  KJIT_CUDA_CHECK(cu.cuDeviceGet(&handle, device));
  GpuArch arch;
  KJIT_CUDA_CHECK(
      cu.cuDeviceGetAttribute(&arch.major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, handle));
  KJIT_CUDA_CHECK(
      cu.cuDeviceGetAttribute(&arch.minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, handle));
  archs[device] = arch;
  return arch;
}

int device_sm_count(int device) {
  static std::mutex mutex;
  static std::map<int, int> counts;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = counts.find(device);
  if (found != counts.end()) return found->second;
  const CudaDriver& cu = cuda_driver();
  CUdevice handle = 0;
  KJIT_CUDA_CHECK(cu.cuDeviceGet(&handle, device));
  int count = 0;
  KJIT_CUDA_CHECK(
      cu.cuDeviceGetAttribute(&count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, handle));
  counts[device] = count;
  return count;
}

CUfunction LoadedModule::function(const std::string& entry_point, int device) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = functions_.find({device, entry_point});
  if (found != functions_.end()) return found->second;

  const CudaDriver& cu = cuda_driver();
  ScopedContext scope(device);
  auto module = modules_.find(device);
  if (module == modules_.end()) {
    CUmodule handle = nullptr;
    KJIT_CUDA_CHECK(cu.cuModuleLoadData(&handle, cubin_->data()));
    module = modules_.emplace(device, handle).first;
  }
  CUfunction function = nullptr;
  KJIT_CUDA_CHECK(cu.cuModuleGetFunction(&function, module->second, entry_point.c_str()));
  functions_[{device, entry_point}] = function;
  return function;
}

}  // namespace kjit
