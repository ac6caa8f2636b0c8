// kjit doctor: NVRTC, driver, GPUs, FP8 support and the cache's health in one report.
#include <iostream>
#include <vector>

#include <fmt/format.h>

#include "cache/cache_dir.hpp"
#include "cli_common.hpp"
#include "cuda_driver.hpp"
#include "errors.hpp"
#include "loaded_module.hpp"
#include "nvrtc_compiler.hpp"

namespace kjit::cli {

int run_doctor(const GlobalOptions& global) {
  json report;
  report["kjit_version"] = KJIT_VERSION;
  report["nvrtc_version"] = kjit::nvrtc_version();
  json archs = json::array();
  for (const auto& arch : kjit::nvrtc_supported_archs()) archs.push_back(arch.name());
  report["nvrtc_targets"] = archs;

  json gpus = json::array();
  if (kjit::cuda_available()) {
    const kjit::CudaDriver& cu = kjit::cuda_driver();
    int version = 0, count = 0;
    cu.cuDriverGetVersion(&version);
    cu.cuDeviceGetCount(&count);
    report["driver"] =
        fmt::format("{}.{} ({})", version / 1000, (version % 1000) / 10, cu.library_path);
    for (int device = 0; device < count; ++device) {
      CUdevice handle = 0;
      cu.cuDeviceGet(&handle, device);
      char name[256] = {};
      cu.cuDeviceGetName(name, sizeof name, handle);
      std::size_t memory = 0;
      cu.cuDeviceTotalMem(&memory, handle);
      const kjit::GpuArch arch = kjit::device_arch(device);
      // E4M3/E5M2 conversion instructions (cvt.*.e4m3x2) exist from sm_89 on.
      gpus.push_back({{"index", device},
                      {"name", name},
                      {"arch", arch.name()},
                      {"memory_bytes", memory},
                      {"fp8_hardware", arch.number() >= 89}});
    }
  } else {
    try {
      kjit::cuda_driver();
    } catch (const kjit::CudaError& error) {
      report["driver"] = std::string("no driver: ") + error.what();
    }
  }
  report["gpus"] = gpus;

  const kjit::RuntimeOptions options = runtime_options(global);
  json cache;
  cache["directory"] = options.cache_dir.string();
  cache["enabled"] = options.disk_cache;
  const std::string problem = options.disk_cache ? kjit::cache::prepare_cache_dir(options.cache_dir)
                                                 : "disabled by KJIT_CACHE=0";
  cache["permissions"] = problem.empty() ? "ok" : problem;
  bool healthy = problem.empty() || !options.disk_cache;
  if (problem.empty() && options.disk_cache) {
    try {
      auto store = kjit::cache::SqliteStore::open(options.cache_dir);
      cache["database"] = store->location();
      cache["integrity"] = store->integrity_check();
      cache["entries"] = store->stats().entries;
      healthy = healthy && cache["integrity"] == "ok";
    } catch (const kjit::Error& error) {
      cache["integrity"] = error.what();
      healthy = false;
    }
  }
  report["cache"] = cache;
  report["healthy"] = healthy;

  if (global.json) {
    print_json(report);
  } else {
    std::cout << fmt::format(
        "kjit          {}\nNVRTC         {} (targets: {})\ndriver        {}\n", KJIT_VERSION,
        report["nvrtc_version"].get<std::string>(),
        fmt::join(report["nvrtc_targets"].get<std::vector<std::string>>(), " "),
        report["driver"].get<std::string>());
    if (gpus.empty()) std::cout << "GPUs          none\n";
    for (const auto& gpu : gpus) {
      std::cout << fmt::format("GPU {}         {} ({}, {} GiB, FP8 hardware: {})\n",
                               gpu["index"].get<int>(), gpu["name"].get<std::string>(),
                               gpu["arch"].get<std::string>(),
                               gpu["memory_bytes"].get<std::size_t>() >> 30,
                               gpu["fp8_hardware"].get<bool>() ? "yes" : "no");
    }
    std::cout << fmt::format("cache         {}\npermissions   {}\nintegrity     {}\n",
                             cache["directory"].get<std::string>(),
                             cache["permissions"].get<std::string>(),
                             cache.value("integrity", std::string("n/a")));
  }
  return healthy ? kExitOk : kExitError;
}

}  // namespace kjit::cli
