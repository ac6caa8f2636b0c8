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
  // Measured on H100 (bench/RESULTS.md, KJIT_DECODE_TUNING runs): 16-bit KV at head_dim 64 is
  // fastest at 4 CTAs/SM without double buffering (two buffers need ~155 registers); FP8 tiles
  // are half the size, so FP8 double-buffers at 4 CTAs/SM with no spills. At head_dim 128 FP8
  // is best without double buffering at 3-4 CTAs/SM, 16-bit KV with no register cap (a cap of
  // 128 spills).
  const bool fp8 = is_fp8(spec.dtype_kv);
  if (spec.head_dim == 64) {
    tunables.prefetch = fp8;
    tunables.min_blocks_per_sm = 4;
  } else if (spec.head_dim == 128 && fp8) {
    tunables.prefetch = false;
    tunables.min_blocks_per_sm = 3;  // 4 spills ~150 bytes
  } else {
    tunables.prefetch = false;
  }
  if (auto text = knobs::get("KJIT_DECODE_TUNING"))
    tunables = parse_decode_tunables(*text, tunables);
  return tunables;
}

}  // namespace kjit
