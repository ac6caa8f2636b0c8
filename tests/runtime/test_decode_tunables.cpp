#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "batch_decode_params.h"
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

TEST_CASE("the override syntax sets stages, the register budget and pairing, nothing else") {
  const kjit::DecodeTunables parsed =
      kjit::parse_decode_tunables("stages=4,min_blocks=3,pair=1", {});
  CHECK(parsed.stages == 4);
  CHECK(parsed.min_blocks_per_sm == 3);
  CHECK(parsed.paired_heads);
  CHECK_FALSE(kjit::parse_decode_tunables("pair=0", parsed).paired_heads);
  CHECK(kjit::parse_decode_tunables("", {}).stages == kjit::DecodeTunables{}.stages);
  for (const char* bad : {"stages=1", "stages=9", "stages=two", "min_blocks=0", "min_blocks=17",
                          "prefetch=1", "stages", "stages=2,,", "pair=2", "pair=yes", "pair"}) {
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
      CHECK(chosen.stages == 2);
      const bool capped = head_dim == 64 || (head_dim == 128 && kv == DType::kE4M3);
      CHECK(chosen.min_blocks_per_sm == (capped ? 4 : 1));
      CHECK(chosen.paired_heads == (kv == DType::kE4M3 && head_dim == 64));
    }
  }
}

TEST_CASE("tunables are rendered into the source, so they are part of the cache key") {
  const kjit::KernelSpec spec = spec_for(kjit::DType::kE4M3, 64);
  const std::string chosen = kjit::render(spec, kjit::TemplateLibrary::embedded()).source;
  CHECK(chosen.find("kStages = 2;") != std::string::npos);
  CHECK(chosen.find("kMinBlocksPerSm = 4;") != std::string::npos);
  TuningOverride tuning("stages=5,min_blocks=2");
  const std::string overridden = kjit::render(spec, kjit::TemplateLibrary::embedded()).source;
  CHECK(overridden.find("kStages = 5;") != std::string::npos);
  CHECK(overridden.find("kMinBlocksPerSm = 2;") != std::string::npos);
}

TEST_CASE("the paired kernel is in the module exactly when the tunables ask for it") {
  const auto rendered = [](kjit::DType kv) {
    return kjit::render(spec_for(kv, 64), kjit::TemplateLibrary::embedded());
  };
  const auto has_paired_entry = [](const kjit::RenderedSource& source) {
    return std::find(source.entry_points.begin(), source.entry_points.end(),
                     kjit::kBatchDecodePairedEntryPoint) != source.entry_points.end();
  };
  const kjit::RenderedSource fp8 = rendered(kjit::DType::kE4M3);
  CHECK(has_paired_entry(fp8));
  CHECK(fp8.source.find("kjit_batch_decode_paired(") != std::string::npos);
  const kjit::RenderedSource bf16 = rendered(kjit::DType::kBF16);
  CHECK_FALSE(has_paired_entry(bf16));
  CHECK(bf16.source.find("kjit_batch_decode_paired(") == std::string::npos);
  // The host reads the paired kernel's shared memory, 0 when there is none.
  CHECK(bf16.source.find("kjit_batch_decode_paired_shared_bytes = 0;") != std::string::npos);
  TuningOverride tuning("pair=0");
  CHECK_FALSE(has_paired_entry(rendered(kjit::DType::kE4M3)));
}
