// The dispatch guard: decides whether kjit has a kernel for a signature, and whether a target
// GPU can run it. Pure functions of their arguments; they never substitute another kernel.
#pragma once

#include <string>

#include "errors.hpp"
#include "gpu_arch.hpp"
#include "kernel_spec.hpp"

namespace kjit {

struct GuardResult {
  GuardCode code = GuardCode::kOk;
  std::string message;  // empty when ok; otherwise names the value and the accepted ones

  bool ok() const { return code == GuardCode::kOk; }
};

GuardResult validate(const KernelSpec& spec);

// Whether kernels of a (valid) spec can be built for `arch`: batch decode needs sm_80 or newer.
GuardResult validate_target(const KernelSpec& spec, const GpuArch& arch);

// validate(), throwing GuardError on rejection.
void require_supported(const KernelSpec& spec);

// validate() and validate_target(), throwing GuardError on rejection.
void require_supported(const KernelSpec& spec, const GpuArch& arch);

}  // namespace kjit
