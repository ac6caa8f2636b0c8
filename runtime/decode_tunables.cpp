#include "decode_tunables.hpp"

#include <algorithm>
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
  // Bytes in flight hide DRAM latency (Little's law: ~3 TB/s x ~1 us is ~25 KB per SM on an
  // H100). A warp's tile is 32 * head_dim * kv_bytes bytes of K and V; about 12 KB of stages per
  // warp keeps 4 CTAs/SM in flight with enough tiles each, within the 227 KB of shared memory for
  // the head dims that have 4 CTAs/SM of registers (64, and FP8 at 128).
  const int tile_bytes = 32 * spec.head_dim * static_cast<int>(size_in_bytes(spec.dtype_kv));
  tunables.stages = std::clamp(12288 / tile_bytes, 2, 6);
  // 4 CTAs/SM (a 128-register cap) is best for head_dim 64 and for FP8 at 128; 16-bit KV at 128
  // runs uncapped (a 128-register cap spilled: 718 vs 440 us before cp.async staging).
  if (spec.head_dim == 64 || (spec.head_dim == 128 && is_fp8(spec.dtype_kv))) {
    tunables.min_blocks_per_sm = 4;
  }
  if (auto text = knobs::get("KJIT_DECODE_TUNING"))
    tunables = parse_decode_tunables(*text, tunables);
  return tunables;
}

}  // namespace kjit
