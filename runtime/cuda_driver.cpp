#include "cuda_driver.hpp"

#include <dlfcn.h>

#include <vector>

#include <fmt/format.h>

#include "errors.hpp"
#include "knobs.hpp"

namespace kjit {
namespace {

// Two-level expansion so that cuda.h's macros (cuMemAlloc -> cuMemAlloc_v2) pick the symbol.
#define KJIT_SYMBOL_NAME(name) KJIT_SYMBOL_NAME_EXPANDED(name)
#define KJIT_SYMBOL_NAME_EXPANDED(name) #name

void* open_library(std::string* tried) {
  std::vector<std::string> candidates;
  if (auto path = knobs::libcuda_path()) candidates.push_back(*path);
  candidates.push_back("libcuda.so.1");
  candidates.push_back("libcuda.so");
  for (const std::string& candidate : candidates) {
    // Prefer a driver the host process already loaded (e.g. by PyTorch).
    if (void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_NOLOAD)) return handle;
  }
  for (const std::string& candidate : candidates) {
    if (void* handle = dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
    const char* why = dlerror();
    *tried += fmt::format("\n  {}: {}", candidate, why ? why : "not found");
  }
  return nullptr;
}

struct LoadResult {
  CudaDriver driver;
  std::string error;  // empty on success
};

LoadResult load() {
  LoadResult result;
  std::string tried;
  void* handle = open_library(&tried);
  if (handle == nullptr) {
    result.error =
        "no CUDA driver (libcuda) could be loaded, so no CUDA device is available; "
        "compiling and caching still work (pass --arch to pick the target). Tried:" +
        tried;
    return result;
  }
  CudaDriver& driver = result.driver;
  Dl_info info{};
#define KJIT_RESOLVE(name)                                                                      \
  driver.name = reinterpret_cast<decltype(driver.name)>(dlsym(handle, KJIT_SYMBOL_NAME(name))); \
  if (driver.name == nullptr) {                                                                 \
    result.error = fmt::format("the CUDA driver lacks {}: it is older than this kjit supports", \
                               KJIT_SYMBOL_NAME(name));                                         \
    return result;                                                                              \
  }
  KJIT_CUDA_DRIVER_FUNCTIONS(KJIT_RESOLVE)
#undef KJIT_RESOLVE
  if (dladdr(reinterpret_cast<void*>(driver.cuInit), &info) != 0 && info.dli_fname != nullptr) {
    driver.library_path = info.dli_fname;
  }
  const CUresult init = driver.cuInit(0);
  if (init != CUDA_SUCCESS) {
    const char* name = nullptr;
    driver.cuGetErrorName(init, &name);
    result.error = fmt::format("no CUDA device: cuInit failed with {} (driver {})",
                               name ? name : "an unknown error", driver.library_path);
    return result;
  }
  int count = 0;
  if (driver.cuDeviceGetCount(&count) != CUDA_SUCCESS || count == 0) {
    result.error = "no CUDA device: the driver loaded but reports no GPU";
  }
  return result;
}

const LoadResult& loaded() {
  static const LoadResult result = load();
  return result;
}

}  // namespace

const CudaDriver& cuda_driver() {
  const LoadResult& result = loaded();
  if (!result.error.empty()) throw CudaError(result.error);
  return result.driver;
}

bool cuda_available() { return loaded().error.empty(); }

void check_cuda(CUresult result, const char* call) {
  if (result == CUDA_SUCCESS) return;
  const CudaDriver& driver = loaded().driver;
  const char* name = nullptr;
  const char* description = nullptr;
  if (driver.cuGetErrorName != nullptr) driver.cuGetErrorName(result, &name);
  if (driver.cuGetErrorString != nullptr) driver.cuGetErrorString(result, &description);
  throw CudaError(fmt::format("{} failed: {}: {}", call, name ? name : std::to_string(result),
                              description ? description : "no description"));
}

}  // namespace kjit
