#include "decode_tunables.hpp"

#include <sstream>

#include <fmt/format.h>

#include "errors.hpp"
#include "knobs.hpp"

namespace kjit {

DecodeTunables parse_decode_tunables(const std::string& text, DecodeTunables base) {
  std::stringstream stream(text);
  std::string field;
  while (std::getline(stream, field, ',')) {
    const auto equals = field.find('=');
    const std::string key = field.substr(0, equals);
    const std::string value = equals == std::string::npos ? "" : field.substr(equals + 1);
    try {
      if (key == "prefetch" && (value == "0" || value == "1")) {
        base.prefetch = value == "1";
        continue;
      }
      if (key == "min_blocks" && std::stoi(value) >= 1 && std::stoi(value) <= 16) {
        base.min_blocks_per_sm = std::stoi(value);
        continue;
      }
    } catch (const std::exception&) {
    }
    throw InvalidArgument(fmt::format(
        "KJIT_DECODE_TUNING: cannot use '{}': expected prefetch=0|1 and min_blocks=1..16, "
        "comma-separated",
        field));
  }
  return base;
}

DecodeTunables choose_decode_tunables(const KernelSpec& spec) {
  DecodeTunables tunables;
  // 16-bit KV at head_dim 64: two tile buffers need ~155 registers (3 CTAs/SM); FP8 tiles are
  // half the size and fit 4 CTAs/SM with prefetch and no spills.
  if (spec.head_dim == 64) tunables.min_blocks_per_sm = is_fp8(spec.dtype_kv) ? 4 : 3;
  if (auto text = knobs::get("KJIT_DECODE_TUNING"))
    tunables = parse_decode_tunables(*text, tunables);
  return tunables;
}

}  // namespace kjit
