// Stage 4: a cubin loaded into each device that uses it (the device's primary context, which
// PyTorch and the CUDA runtime share). Modules stay loaded for the life of the process.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "cuda_driver.hpp"
#include "gpu_arch.hpp"

namespace kjit {

class LoadedModule {
 public:
  explicit LoadedModule(const std::string* cubin) : cubin_(cubin) {}
  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;

  // The function `entry_point` on `device`, loading the cubin there on first use.
  // Throws CudaError when there is no GPU or the load fails.
  CUfunction function(const std::string& entry_point, int device);

  // The value of the module's `extern "C"` int `name` (read once per device and cached).
  // Throws CudaError when the module has none.
  int global_int(const std::string& name, int device);

 private:
  CUmodule module(int device);  // loads on first use; mutex_ held
  const std::string* cubin_;    // owned by the KernelRecord that owns this module
  std::mutex mutex_;
  std::map<int, CUmodule> modules_;
  std::map<std::pair<int, std::string>, CUfunction> functions_;
  std::map<std::pair<int, std::string>, int> ints_;
};

// The device of the calling thread's current context; with no current context, device 0, whose
// primary context is then made current. Throws CudaError without a GPU.
int current_device();

// Compute capability of a device (cached per device).
GpuArch device_arch(int device);

// Number of streaming multiprocessors of a device (cached per device).
int device_sm_count(int device);

// The most shared memory one CTA may opt in to on a device, in bytes (cached per device).
int device_max_shared_bytes_per_block(int device);

// Makes the device's primary context current for the calling thread.
void make_primary_context_current(int device);

// Makes a device's primary context current for a scope and restores the caller's afterwards, so
// that calling kjit never changes which device the host's thread (PyTorch's current device, for
// one) is on.
class ScopedContext {
 public:
  explicit ScopedContext(int device);
  ~ScopedContext();
  ScopedContext(const ScopedContext&) = delete;
  ScopedContext& operator=(const ScopedContext&) = delete;

 private:
  CUcontext previous_ = nullptr;
  bool switched_ = false;
};

}  // namespace kjit
