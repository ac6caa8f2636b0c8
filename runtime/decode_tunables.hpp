// Tunables of the batch decode kernel: rendered into its config, so they are part of the key.
#pragma once

#include <string>

#include "kernel_spec.hpp"

namespace kjit {

struct DecodeTunables {
  int stages = 2;             // cp.async shared-memory stages per warp (tiles in flight + 1)
  int min_blocks_per_sm = 1;  // __launch_bounds__ minimum blocks: caps registers per thread
  int l2_prefetch_bytes = 0;  // cp.async L2 prefetch size hint: 0 (none), 64, 128 or 256
  bool q_in_shared = false;   // Q's mma fragments read from shared memory, not held in registers
};

// The choice for a variant (bench/RESULTS.md); KJIT_DECODE_TUNING
// ("stages=4,min_blocks=4,l2_prefetch=128,q_shared=1") overrides it for experiments.
DecodeTunables choose_decode_tunables(const KernelSpec& spec);

// Parses the override syntax; throws InvalidArgument naming the accepted keys.
DecodeTunables parse_decode_tunables(const std::string& text, DecodeTunables base);

}  // namespace kjit
