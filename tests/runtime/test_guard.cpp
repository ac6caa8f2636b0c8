#include <doctest/doctest.h>

#include <set>
#include <string>

#include "guard.hpp"

using kjit::DType;

namespace {

const DType kAll[] = {DType::kF16,  DType::kBF16, DType::kF32,      DType::kE4M3,
                      DType::kE5M2, DType::kI32,  DType::kE4M3FNUZ, DType::kE5M2FNUZ};

// The rules of DESIGN.md §2, written out as data independently of guard.cpp.
bool expected_ok(DType q, DType kv, bool sinks) {
  const std::set<DType> queries = {DType::kF16, DType::kBF16};
  const std::set<DType> kv_with_sinks = {DType::kBF16, DType::kF16, DType::kE4M3};
  const std::set<DType> kv_without = {DType::kBF16, DType::kF16, DType::kE4M3, DType::kE5M2};
  return queries.count(q) && (sinks ? kv_with_sinks : kv_without).count(kv);
}

kjit::KernelSpec spec(DType q, DType kv, bool sinks) {
  kjit::KernelSpec s;
  s.dtype_q = q;
  s.dtype_kv = kv;
  s.use_sinks = sinks;
  s.head_dim = 64;
  return s;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("guard table: every dtype_q x dtype_kv x sinks") {
  int accepted = 0;
  for (DType q : kAll) {
    for (DType kv : kAll) {
      for (bool sinks : {false, true}) {
        const kjit::GuardResult result = kjit::validate(spec(q, kv, sinks));
        CAPTURE(kjit::short_name(q));
        CAPTURE(kjit::short_name(kv));
        CAPTURE(sinks);
        CHECK(result.ok() == expected_ok(q, kv, sinks));
        if (!result.ok()) CHECK_FALSE(result.message.empty());
        accepted += result.ok();
      }
    }
  }
  CHECK(accepted == 2 * 4 + 2 * 3);
}

TEST_CASE("FP8 queries are always rejected, naming the supported query dtypes") {
  for (DType q : {DType::kE4M3, DType::kE5M2}) {
    for (bool sinks : {false, true}) {
      const auto result = kjit::validate(spec(q, DType::kE4M3, sinks));
      CHECK(result.code == kjit::GuardCode::kUnsupportedQueryDType);
      CHECK(contains(result.message, "FP8 queries are not supported"));
      CHECK(contains(result.message, "f16, bf16"));
      CHECK(contains(result.message, std::string(kjit::short_name(q))));
    }
  }
}

TEST_CASE("sinks with e5m2 or f32 KV are rejected, naming the supported KV dtypes") {
  for (DType kv : {DType::kE5M2, DType::kF32}) {
    const auto result = kjit::validate(spec(DType::kBF16, kv, true));
    CHECK(result.code == kjit::GuardCode::kUnsupportedKVDType);
    CHECK(contains(result.message, "sinks"));
    CHECK(contains(result.message, "bf16, f16, e4m3"));
  }
  CHECK(kjit::validate(spec(DType::kBF16, DType::kE5M2, false)).ok());
}

TEST_CASE("ROCm FP8 formats are rejected as such") {
  const auto result = kjit::validate(spec(DType::kBF16, DType::kE4M3FNUZ, false));
  CHECK_FALSE(result.ok());
  CHECK(contains(result.message, "ROCm"));
  CHECK(contains(kjit::validate(spec(DType::kE5M2FNUZ, DType::kBF16, false)).message, "ROCm"));
}

TEST_CASE("head_dim, output dtype, index dtype and family") {
  auto s = spec(DType::kBF16, DType::kBF16, false);
  for (int head_dim : {64, 128, 256}) {
    s.head_dim = head_dim;
    CHECK(kjit::validate(s).ok());
  }
  for (int head_dim : {0, -64, 32, 96, 512, 1 << 30}) {
    s.head_dim = head_dim;
    const auto result = kjit::validate(s);
    CHECK(result.code == kjit::GuardCode::kUnsupportedHeadDim);
    CHECK(contains(result.message, "64, 128, 256"));
  }
  s.head_dim = 64;
  s.dtype_o = DType::kE4M3;
  CHECK(kjit::validate(s).code == kjit::GuardCode::kUnsupportedOutputDType);
  s.dtype_o = DType::kF16;  // f16 output from a bf16 query is allowed
  CHECK(kjit::validate(s).ok());
  s.dtype_idx = DType::kF32;
  CHECK(kjit::validate(s).code == kjit::GuardCode::kUnsupportedIndexDType);
  s.dtype_idx = DType::kI32;
  s.family = "batch_prefill";
  const auto family = kjit::validate(s);
  CHECK(family.code == kjit::GuardCode::kUnknownFamily);
  CHECK(contains(family.message, "batch_decode"));
}

TEST_CASE("require_supported throws GuardError with the code") {
  try {
    kjit::require_supported(spec(DType::kE4M3, DType::kE4M3, true));
    FAIL("expected GuardError");
  } catch (const kjit::GuardError& error) {
    CHECK(error.code() == kjit::GuardCode::kUnsupportedQueryDType);
  }
  CHECK_NOTHROW(kjit::require_supported(spec(DType::kBF16, DType::kE4M3, true)));
}

TEST_CASE("targets older than sm_80 are rejected before anything is compiled") {
  const kjit::KernelSpec gpt_oss = spec(DType::kBF16, DType::kE4M3, true);
  for (const char* old_arch : {"sm_70", "sm_75", "sm_72"}) {
    const auto result = kjit::validate_target(gpt_oss, kjit::GpuArch::parse(old_arch));
    CHECK(result.code == kjit::GuardCode::kUnsupportedArch);
    CHECK(contains(result.message, "sm_80 or newer"));
    CHECK(contains(result.message, old_arch));  // names what it got
    CHECK(contains(result.message, "batch_decode"));
  }
  // sm_80 up, FP8 KV included (software conversion below sm_89, hardware from sm_89).
  for (const char* arch : {"sm_80", "sm_86", "sm_89", "sm_90", "sm_100", "sm_120"}) {
    CHECK(kjit::validate_target(gpt_oss, kjit::GpuArch::parse(arch)).ok());
  }
  try {
    kjit::require_supported(gpt_oss, kjit::GpuArch::parse("sm_75"));
    FAIL("expected GuardError");
  } catch (const kjit::GuardError& error) {
    CHECK(error.code() == kjit::GuardCode::kUnsupportedArch);
    CHECK(std::string(kjit::guard_code_name(error.code())) == "unsupported_arch");
  }
  // The signature is checked first: a bad spec is reported as such whatever the target.
  try {
    kjit::require_supported(spec(DType::kE4M3, DType::kE4M3, false), kjit::GpuArch::parse("sm_75"));
    FAIL("expected GuardError");
  } catch (const kjit::GuardError& error) {
    CHECK(error.code() == kjit::GuardCode::kUnsupportedQueryDType);
  }
}
