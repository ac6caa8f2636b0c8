#include "gpu_arch.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "errors.hpp"

namespace kjit {

std::string GpuArch::name() const { return fmt::format("sm_{}{}", major, minor); }

GpuArch GpuArch::parse(const std::string& text) {
  std::string digits;
  std::string rest = text;
  for (const char* prefix : {"sm_", "compute_"}) {
    if (rest.rfind(prefix, 0) == 0) rest = rest.substr(std::string(prefix).size());
  }
  if (rest.size() == 3 && rest[1] == '.') rest = {rest[0], rest[2]};
  // sm_90a-style suffixes are not supported yet: kernels use only plain sm_XX features.
  const bool ok = (rest.size() == 2 || rest.size() == 3) &&
                  std::all_of(rest.begin(), rest.end(),
                              [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  if (!ok) {
    throw InvalidArgument(fmt::format(
        "invalid GPU architecture '{}': expected sm_XY such as sm_80, sm_89 or sm_90", text));
  }
  const int value = std::stoi(rest);
  return {value / 10, value % 10};
}

}  // namespace kjit
