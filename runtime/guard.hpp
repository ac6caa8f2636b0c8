// The dispatch guard: decides whether kjit has a kernel for a signature. A pure function of the
// spec; it never substitutes another kernel.
#pragma once

#include <string>

#include "errors.hpp"
#include "kernel_spec.hpp"

namespace kjit {

struct GuardResult {
  GuardCode code = GuardCode::kOk;
  std::string message;  // empty when ok; otherwise names the value and the accepted ones

  bool ok() const { return code == GuardCode::kOk; }
};

GuardResult validate(const KernelSpec& spec);

// validate(), throwing GuardError on rejection.
void require_supported(const KernelSpec& spec);

}  // namespace kjit
