// Stage 2: RenderedSource -> Cubin, in-process with NVRTC for one exact architecture.
#pragma once

#include <string>
#include <vector>

#include "gpu_arch.hpp"
#include "render.hpp"

namespace kjit {

struct Cubin {
  std::string bytes;  // the ELF image
  GpuArch arch;
  std::vector<std::string> options;
  std::string log;  // NVRTC's log (warnings), may be empty
  double compile_ms = 0;
};

// "13.0"
std::string nvrtc_version();

// Architectures this NVRTC can target, e.g. {sm_75, ..., sm_90, ...}.
std::vector<GpuArch> nvrtc_supported_archs();

// The fixed, recorded options for a target. Part of the cache key.
std::vector<std::string> compile_options(const GpuArch& arch);

// Throws CompileError carrying the URI, options, NVRTC log and the offending source lines;
// InvalidArgument if this NVRTC cannot target `arch`.
Cubin compile(const RenderedSource& rendered, const GpuArch& arch);

}  // namespace kjit
