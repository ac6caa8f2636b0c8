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
  // Measured on H100 with kjit-bench's KJIT_DECODE_TUNING variants (bench/RESULTS.md): once
  // page indices are read a tile ahead, double buffering no longer pays at head_dim 64 (S1:
  // 217 vs 268 us BF16, 145 vs 148 us E4M3) while its registers cost occupancy, so it is off.
  // 4 CTAs/SM is best for head_dim 64 and for FP8 at 128 (381 us, despite ~150 bytes of spill,
  // vs 506 us at 3 CTAs/SM); 16-bit KV at 128 runs uncapped (a 128-register cap spills: 718 vs
  // 440 us).
  tunables.prefetch = false;
  if (spec.head_dim == 64 || (spec.head_dim == 128 && is_fp8(spec.dtype_kv))) {
    tunables.min_blocks_per_sm = 4;
  }
  if (auto text = knobs::get("KJIT_DECODE_TUNING"))
    tunables = parse_decode_tunables(*text, tunables);
  return tunables;
}

}  // namespace kjit
