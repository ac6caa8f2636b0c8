#include "loaded_module.hpp"

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit {
namespace {

// A value computed once per device and kept for the life of the process.
template <typename T, typename Compute>
T once_per_device(int device, Compute&& compute) {
  static std::mutex mutex;
  static std::map<int, T> values;
  std::lock_guard<std::mutex> lock(mutex);
  auto found = values.find(device);
  if (found == values.end()) found = values.emplace(device, compute(device)).first;
  return found->second;
}

CUdevice device_handle(int device) {
  CUdevice handle = 0;
  KJIT_CUDA_CHECK(cuda_driver().cuDeviceGet(&handle, device));
  return handle;
}

int device_attribute(int device, CUdevice_attribute attribute) {
  int value = 0;
  KJIT_CUDA_CHECK(cuda_driver().cuDeviceGetAttribute(&value, attribute, device_handle(device)));
  return value;
}

// Primary contexts are retained once per device and never released: kernels stay loaded in them
// for the life of the process.
CUcontext primary_context(int device) {
  return once_per_device<CUcontext>(device, [](int ordinal) {
    CUcontext context = nullptr;
    KJIT_CUDA_CHECK(cuda_driver().cuDevicePrimaryCtxRetain(&context, device_handle(ordinal)));
    return context;
  });
}

}  // namespace

ScopedContext::ScopedContext(int device) {
  const CudaDriver& cu = cuda_driver();
  KJIT_CUDA_CHECK(cu.cuCtxGetCurrent(&previous_));
  const CUcontext wanted = primary_context(device);
  if (wanted != previous_) {
    KJIT_CUDA_CHECK(cu.cuCtxSetCurrent(wanted));
    switched_ = true;
  }
}

ScopedContext::~ScopedContext() {
  if (switched_) cuda_driver().cuCtxSetCurrent(previous_);
}

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
  return once_per_device<GpuArch>(device, [](int ordinal) {
    return GpuArch{device_attribute(ordinal, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                   device_attribute(ordinal, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)};
  });
}

int device_sm_count(int device) {
  return once_per_device<int>(device, [](int ordinal) {
    return device_attribute(ordinal, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
  });
}

int device_max_shared_bytes_per_block(int device) {
  return once_per_device<int>(device, [](int ordinal) {
    return device_attribute(ordinal, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
  });
}

CUmodule LoadedModule::module(int device) {
  auto found = modules_.find(device);
  if (found != modules_.end()) return found->second;
  CUmodule handle = nullptr;
  KJIT_CUDA_CHECK(cuda_driver().cuModuleLoadData(&handle, cubin_->data()));
  modules_.emplace(device, handle);
  return handle;
}

CUfunction LoadedModule::function(const std::string& entry_point, int device) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = functions_.find({device, entry_point});
  if (found != functions_.end()) return found->second;

  ScopedContext scope(device);
  CUfunction function = nullptr;
  KJIT_CUDA_CHECK(
      cuda_driver().cuModuleGetFunction(&function, module(device), entry_point.c_str()));
  functions_[{device, entry_point}] = function;
  return function;
}

int LoadedModule::global_int(const std::string& name, int device) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = ints_.find({device, name});
  if (found != ints_.end()) return found->second;

  const CudaDriver& cu = cuda_driver();
  ScopedContext scope(device);
  CUdeviceptr address = 0;
  std::size_t bytes = 0;
  KJIT_CUDA_CHECK(cu.cuModuleGetGlobal(&address, &bytes, module(device), name.c_str()));
  if (bytes != sizeof(int)) {
    throw CudaError(fmt::format("module global {} holds {} bytes, not an int", name, bytes));
  }
  int value = 0;
  KJIT_CUDA_CHECK(cu.cuMemcpyDtoH(&value, address, sizeof(int)));
  ints_[{device, name}] = value;
  return value;
}

}  // namespace kjit
