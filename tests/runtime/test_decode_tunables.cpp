#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "decode_tunables.hpp"
#include "errors.hpp"
#include "render.hpp"

namespace {

kjit::KernelSpec spec_for(kjit::DType kv, int head_dim) {
  kjit::KernelSpec spec;
  spec.dtype_q = kjit::DType::kBF16;
  spec.dtype_kv = kv;
  spec.head_dim = head_dim;
  spec.use_sinks = true;
  return spec;
}

// Sets KJIT_DECODE_TUNING for one scope.
struct TuningOverride {
  explicit TuningOverride(const char* value) { setenv("KJIT_DECODE_TUNING", value, 1); }
  ~TuningOverride() { unsetenv("KJIT_DECODE_TUNING"); }
};

}  // namespace

TEST_CASE("the override syntax sets stages, registers, L2 prefetch and Q's home, only") {
  const kjit::DecodeTunables parsed =
      kjit::parse_decode_tunables("stages=4,min_blocks=3,l2_prefetch=256,q_shared=1", {});
  CHECK(parsed.stages == 4);
  CHECK(parsed.min_blocks_per_sm == 3);
  CHECK(parsed.l2_prefetch_bytes == 256);
  CHECK(parsed.q_in_shared);
  kjit::DecodeTunables shared;
  shared.q_in_shared = true;
  CHECK_FALSE(kjit::parse_decode_tunables("q_shared=0", shared).q_in_shared);
  for (int bytes : {0, 64, 128}) {
    const std::string text = "l2_prefetch=" + std::to_string(bytes);
    CHECK(kjit::parse_decode_tunables(text, {}).l2_prefetch_bytes == bytes);
  }
  CHECK(kjit::parse_decode_tunables("", {}).stages == kjit::DecodeTunables{}.stages);
  for (const char* bad : {"stages=1", "stages=9", "stages=two", "min_blocks=0", "min_blocks=17",
                          "prefetch=1", "stages", "stages=2,,", "l2_prefetch=32", "l2_prefetch=512",
                          "l2_prefetch=", "q_shared=2", "q_shared=", "q_shared=true"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(kjit::parse_decode_tunables(bad, {}), kjit::InvalidArgument);
  }
}

TEST_CASE("each variant gets the measured choice (bench/RESULTS.md)") {
  using kjit::DType;
  for (DType kv : {DType::kBF16, DType::kE4M3}) {
    for (int head_dim : {64, 128, 256}) {
      const kjit::DecodeTunables chosen = kjit::choose_decode_tunables(spec_for(kv, head_dim));
      CAPTURE(head_dim);
      CHECK(chosen.stages == (head_dim == 64 && kv == DType::kE4M3 ? 3 : 2));
      const bool capped = head_dim == 64 || (head_dim == 128 && kv == DType::kE4M3);
      CHECK(chosen.min_blocks_per_sm == (capped ? 4 : 1));
      // Only rows shorter than a 128-byte line (FP8 at 64) prefetch the rest of the line.
      const bool short_rows = head_dim == 64 && kv == DType::kE4M3;
      CHECK(chosen.l2_prefetch_bytes == (short_rows ? 128 : 0));
      // The variants that spill with Q in registers: FP8 at 128 (capped) and 256 (255 registers).
      CHECK(chosen.q_in_shared == ((head_dim == 128 && kv == DType::kE4M3) || head_dim == 256));
    }
  }
}

TEST_CASE("tunables are rendered into the source, so they are part of the cache key") {
  const kjit::KernelSpec spec = spec_for(kjit::DType::kE4M3, 64);
  const std::string chosen = kjit::render(spec, kjit::TemplateLibrary::embedded()).source;
  CHECK(chosen.find("kStages = 3;") != std::string::npos);
  CHECK(chosen.find("kMinBlocksPerSm = 4;") != std::string::npos);
  CHECK(chosen.find("kL2PrefetchBytes = 128;") != std::string::npos);
  CHECK(chosen.find("kQInShared = false;") != std::string::npos);
  const std::string at_128 =
      kjit::render(spec_for(kjit::DType::kE4M3, 128), kjit::TemplateLibrary::embedded()).source;
  CHECK(at_128.find("kQInShared = true;") != std::string::npos);
  TuningOverride tuning("stages=5,min_blocks=2,l2_prefetch=0,q_shared=1");
  const std::string overridden = kjit::render(spec, kjit::TemplateLibrary::embedded()).source;
  CHECK(overridden.find("kStages = 5;") != std::string::npos);
  CHECK(overridden.find("kMinBlocksPerSm = 2;") != std::string::npos);
  CHECK(overridden.find("kL2PrefetchBytes = 0;") != std::string::npos);
  CHECK(overridden.find("kQInShared = true;") != std::string::npos);
}
