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
      if (key == "stages" && std::stoi(value) >= 2 && std::stoi(value) <= 8) {
        base.stages = std::stoi(value);
        continue;
      }
      if (key == "min_blocks" && std::stoi(value) >= 1 && std::stoi(value) <= 16) {
        base.min_blocks_per_sm = std::stoi(value);
        continue;
      }
    } catch (const std::exception&) {
    }
    throw InvalidArgument(fmt::format(
        "KJIT_DECODE_TUNING: cannot use '{}': expected stages=2..8 and min_blocks=1..16, "
        "comma-separated",
        field));
  }
  return base;
}

DecodeTunables choose_decode_tunables(const KernelSpec& spec) {
  DecodeTunables tunables;
  // Measured on H100 with kjit-bench (bench/RESULTS.md): two stages (one tile in flight per
  // warp while the previous one is computed) are best or equal for every variant. More stages
  // made FP8 at head_dim 64 slower (S1: 74 % of copy bandwidth at 2 stages, 67 % at 3, 60 % at
  // 6, with lane-private copies; 77 % vs 70 % at 3 with whole-row copies) and BF16 no faster:
  // with 16 warps per SM, one tile each is already 32-64 KB in flight, and more scattered
  // requests only add DRAM and L2 contention.
  tunables.stages = 2;
  // 4 CTAs/SM (a 128-register cap) is best for head_dim 64 and for FP8 at 128 (S2: 211 us, vs
  // 276 us at 3 CTAs/SM); 16-bit KV at 128 runs uncapped (capped at 4 it spills: 557 vs 381 us).
  if (spec.head_dim == 64 || (spec.head_dim == 128 && is_fp8(spec.dtype_kv))) {
    tunables.min_blocks_per_sm = 4;
  }
  if (auto text = knobs::get("KJIT_DECODE_TUNING"))
    tunables = parse_decode_tunables(*text, tunables);
  return tunables;
}

}  // namespace kjit
