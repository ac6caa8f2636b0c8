// A target GPU architecture, e.g. sm_90 (H100/H200).
#pragma once

#include <string>

namespace kjit {

struct GpuArch {
  int major = 0;
  int minor = 0;

  std::string name() const;  // "sm_90"
  int number() const { return major * 10 + minor; }
  // Accepts "sm_90", "90", "9.0", "compute_90". Throws InvalidArgument otherwise.
  static GpuArch parse(const std::string& text);

  bool operator==(const GpuArch& other) const {
    return major == other.major && minor == other.minor;
  }
};

}  // namespace kjit
