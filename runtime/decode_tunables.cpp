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
      if (key == "l2_prefetch" &&
          (value == "0" || value == "64" || value == "128" || value == "256")) {
        base.l2_prefetch_bytes = std::stoi(value);
        continue;
      }
      if (key == "q_shared" && (value == "0" || value == "1")) {
        base.q_in_shared = value == "1";
        continue;
      }
    } catch (const std::exception&) {
    }
    throw InvalidArgument(
        fmt::format("KJIT_DECODE_TUNING: cannot use '{}': expected stages=2..8, min_blocks=1..16, "
                    "l2_prefetch=0|64|128|256 and q_shared=0|1, comma-separated",
                    field));
  }
  return base;
}

DecodeTunables choose_decode_tunables(const KernelSpec& spec) {
  DecodeTunables tunables;
  // Measured on H100 with kjit-bench (bench/RESULTS.md): two stages (one tile in flight per
  // warp while the previous one is computed) are best for 16-bit KV (3 stages: S1 BF16 184 ->
  // 190 us) and for FP8 at 128 (S2 E4M3 201 -> 242 us); 256 is not benchmarked and keeps 2.
  // FP8 at head_dim 64, whose 2 KB tiles put the fewest bytes in flight, gains from a third
  // once its rows are fetched as whole lines (below): S1 E4M3 103.7 -> 102.4 us, S4 212.6 ->
  // 209.3 us. The kernel drops to 2 stages for short work items, which a deeper ring made
  // slower (S6 12.6 -> 13.8 us).
  tunables.stages = spec.head_dim == 64 && is_fp8(spec.dtype_kv) ? 3 : 2;
  // 4 CTAs/SM (a 128-register cap) is best for head_dim 64 and for FP8 at 128 (S2: 211 us, vs
  // 276 us at 3 CTAs/SM); 16-bit KV at 128 runs uncapped (capped at 4 it spills: 557 vs 381 us).
  if (spec.head_dim == 64 || (spec.head_dim == 128 && is_fp8(spec.dtype_kv))) {
    tunables.min_blocks_per_sm = 4;
  }
  // A KV row of one head shorter than a 128-byte line (FP8 at head_dim 64: 64 bytes) shares
  // its lines with the next head's row in NHD pages, and that head is another CTA's. Asking L2
  // to fetch whole lines turns the two CTAs' half-line misses into one DRAM access and one L2
  // hit. H100, one kjit-bench run: S1 E4M3 83.8 -> 85.5 % of copy, S4 79.5 -> 83.9 %;
  // 256-byte prefetch is worse (S2 E4M3 88 -> 85 %), and HND or 128-byte rows gain nothing.
  if (spec.head_dim * size_in_bytes(spec.dtype_kv) < 128) tunables.l2_prefetch_bytes = 128;
  // Q's fragments (32 registers at 128, 64 at 256) read from shared memory, one 16-byte load per
  // k-block, instead of held in registers, where the variant would otherwise spill. FP8 at 128,
  // under its 128-register cap, spilled 64 bytes, the tile loop's page offset among them, so
  // every tile's copies waited on a local-memory load: H100, S2 E4M3 195-202 -> 188-189 us
  // (1.78-1.85x -> 1.91-1.92x BF16), 1 x 32768 tokens 39-40 -> 36 us. At 256 (255 registers, 12-16
  // bytes of spill) one request of 32768 tokens: E4M3 61-62 -> 59 us, BF16 105 -> 104 us; the
  // same occupancy (2 and 1 CTAs/SM). Not for 16-bit KV at 128: uncapped, it would go from 186
  // to 163 registers and from 2 to 3 CTAs/SM, which changes every plan's wave (not measured).
  if ((spec.head_dim == 128 && is_fp8(spec.dtype_kv)) || spec.head_dim == 256) {
    tunables.q_in_shared = true;
  }
  if (auto text = knobs::get("KJIT_DECODE_TUNING"))
    tunables = parse_decode_tunables(*text, tunables);
  return tunables;
}

}  // namespace kjit
