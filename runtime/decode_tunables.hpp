// Tunables of the batch decode kernel: rendered into its config, so they are part of the key.
#pragma once

#include <string>

#include "kernel_spec.hpp"

namespace kjit {

struct DecodeTunables {
  bool prefetch = true;       // double-buffer tile loads in registers (when a tile fits in 32)
  int min_blocks_per_sm = 1;  // __launch_bounds__ minimum blocks: caps registers per thread
};

// The choice for a variant, measured on H100 (bench/RESULTS.md); KJIT_DECODE_TUNING
// ("prefetch=0,min_blocks=4") overrides it for experiments.
DecodeTunables choose_decode_tunables(const KernelSpec& spec);

// Parses the override syntax; throws InvalidArgument naming the accepted keys.
DecodeTunables parse_decode_tunables(const std::string& text, DecodeTunables base);

}  // namespace kjit
