// The Runtime facade without a GPU: memo, disk tier, recompiles, key changes, single flight.
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache_dir.hpp"
#include "cache/sqlite_store.hpp"
#include "errors.hpp"
#include "runtime.hpp"
#include "temp_dir.hpp"
#include "uri.hpp"

using kjit::DType;
using kjit::Origin;

namespace {

const kjit::GpuArch kHopper{9, 0};

kjit::KernelSpec gpt_oss_spec() {
  kjit::KernelSpec spec;
  spec.dtype_q = DType::kBF16;
  spec.dtype_kv = DType::kE4M3;
  spec.head_dim = 64;
  spec.use_sinks = true;
  return spec;
}

kjit::RuntimeOptions options_for(const std::filesystem::path& dir) {
  kjit::RuntimeOptions options;
  options.cache_dir = dir;
  return options;
}

}  // namespace

TEST_CASE("the sink + FP8 path is the sink kernel with e4m3 KV, never a fallback") {
  kjit::testing::TempDir dir;
  kjit::Runtime runtime(options_for(dir.path()));
  const kjit::Kernel kernel = runtime.get(gpt_oss_spec(), kHopper);
  CHECK(kernel.uri() == kjit::make_uri(gpt_oss_spec()));
  CHECK(kernel.uri().find("attention_sink") != std::string::npos);
  CHECK(kernel.uri().find("dtype_kv_e4m3") != std::string::npos);
  CHECK(kernel.spec().use_sinks);
  CHECK(kernel.spec().dtype_kv == DType::kE4M3);
  CHECK(kernel.arch() == kHopper);
}

TEST_CASE("the memo shares an entry exactly when the URI and the arch are equal") {
  kjit::RuntimeOptions options;
  options.disk_cache = false;  // every miss compiles
  kjit::Runtime runtime(options);
  const kjit::Kernel first = runtime.get(gpt_oss_spec(), kHopper);
  REQUIRE(first.origin() == Origin::kCompiled);
  // dtype_o unset means dtype_q: the same URI, so the same kernel from memory.
  kjit::KernelSpec explicit_output = gpt_oss_spec();
  explicit_output.dtype_o = DType::kBF16;
  REQUIRE(kjit::make_uri(explicit_output) == first.uri());
  const kjit::Kernel same = runtime.get(explicit_output, kHopper);
  CHECK(same.origin() == Origin::kMemory);
  CHECK(same.key() == first.key());
  // Any one field of the URI changed is another kernel.
  std::vector<kjit::KernelSpec> others(7, gpt_oss_spec());
  others[0].dtype_q = DType::kF16;
  others[1].dtype_kv = DType::kBF16;
  others[2].dtype_o = DType::kF16;
  others[3].head_dim = 128;
  others[4].use_sinks = false;
  others[5].use_swa = true;
  others[6].use_logits_cap = true;
  for (const kjit::KernelSpec& other : others) {
    CAPTURE(kjit::make_uri(other));
    REQUIRE(kjit::make_uri(other) != first.uri());
    const kjit::Kernel kernel = runtime.get(other, kHopper);
    CHECK(kernel.origin() == Origin::kCompiled);
    CHECK(kernel.uri() == kjit::make_uri(other));
    CHECK(runtime.get(other, kHopper).origin() == Origin::kMemory);
  }
}

TEST_CASE("memory, then disk in a new runtime, with the same key and bytes") {
  kjit::testing::TempDir dir;
  std::string key, cubin;
  {
    kjit::Runtime runtime(options_for(dir.path()));
    const kjit::Kernel first = runtime.get(gpt_oss_spec(), kHopper);
    CHECK(first.origin() == Origin::kCompiled);
    CHECK(first.compile_ms() > 0);
    const kjit::Kernel again = runtime.get(gpt_oss_spec(), kHopper);
    CHECK(again.origin() == Origin::kMemory);
    key = first.key();
    cubin = first.cubin();
  }
  kjit::Runtime fresh(options_for(dir.path()));
  const kjit::Kernel from_disk = fresh.get(gpt_oss_spec(), kHopper);
  CHECK(from_disk.origin() == Origin::kDisk);
  CHECK(from_disk.key() == key);
  CHECK(from_disk.cubin() == cubin);
  // Another arch is another binary.
  const kjit::Kernel ampere = fresh.get(gpt_oss_spec(), kjit::GpuArch{8, 0});
  CHECK(ampere.origin() == Origin::kCompiled);
  CHECK(ampere.key() != key);
}

TEST_CASE("a corrupted cubin on disk is recompiled, never served") {
  kjit::testing::TempDir dir;
  std::string key, cubin;
  {
    kjit::Runtime runtime(options_for(dir.path()));
    const auto kernel = runtime.get(gpt_oss_spec(), kHopper);
    key = kernel.key();
    cubin = kernel.cubin();
  }
  {
    kjit::cache::Database db(kjit::cache::database_path(dir.path()).string());
    std::string bad = cubin;
    bad[100] ^= 0x40;
    kjit::cache::Statement(db, "UPDATE kernels SET cubin = ?2 WHERE key = ?1")
        .bind(1, key)
        .bind_blob(2, bad)
        .run();
  }
  kjit::Runtime fresh(options_for(dir.path()));
  const auto kernel = fresh.get(gpt_oss_spec(), kHopper);
  CHECK(kernel.origin() == Origin::kCompiled);
  CHECK(kernel.cubin() == cubin);  // NVRTC is deterministic for the same input
  kjit::Runtime third(options_for(dir.path()));
  CHECK(third.get(gpt_oss_spec(), kHopper).origin() == Origin::kDisk);  // the fresh copy
}

TEST_CASE("changing a template's text changes the key: no stale kernel") {
  kjit::testing::TempDir dir, templates;
  std::string original_key;
  {
    kjit::Runtime runtime(options_for(dir.path()));
    original_key = runtime.get(gpt_oss_spec(), kHopper).key();
  }
  const auto header = kjit::TemplateLibrary::embedded().get("softmax_state.cuh");
  std::ofstream(templates.path() / "softmax_state.cuh")
      << std::string(header.content) << "\n// edited by a developer\n";
  auto options = options_for(dir.path());
  options.template_dir = templates.path();
  kjit::Runtime edited(options);
  const auto kernel = edited.get(gpt_oss_spec(), kHopper);
  CHECK(kernel.key() != original_key);
  CHECK(kernel.origin() == Origin::kCompiled);
  CHECK(kernel.uri() == kjit::make_uri(gpt_oss_spec()));  // same variant, new binary
}

TEST_CASE("threads racing for one missing kernel compile it once") {
  kjit::testing::TempDir dir;
  kjit::Runtime runtime(options_for(dir.path()));
  std::atomic<int> compiled{0}, served{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      const auto kernel = runtime.get(gpt_oss_spec(), kHopper);
      compiled += kernel.origin() == Origin::kCompiled;
      served += !kernel.cubin().empty();
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(compiled == 1);
  CHECK(served == 8);
  CHECK(runtime.store().stats().entries == 1);
}

TEST_CASE("disabled disk cache, unusable directory and disabled JIT") {
  kjit::testing::TempDir dir;
  auto options = options_for(dir.path() / "kjit");
  options.disk_cache = false;
  kjit::Runtime memory_only(options);
  CHECK_FALSE(memory_only.store().on_disk());
  CHECK(memory_only.get(gpt_oss_spec(), kHopper).origin() == Origin::kCompiled);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "kjit"));

  std::ofstream(dir.path() / "not-a-dir") << "x";
  kjit::Runtime fallback(options_for(dir.path() / "not-a-dir"));
  CHECK_FALSE(fallback.store().on_disk());

  auto strict = options_for(dir.path() / "strict");
  strict.jit_disabled = true;
  kjit::Runtime prebuilt_only(strict);
  try {
    prebuilt_only.get(gpt_oss_spec(), kHopper);
    FAIL("expected an error");
  } catch (const kjit::Error& error) {
    CHECK(std::string(error.what()).find(kjit::make_uri(gpt_oss_spec())) != std::string::npos);
  }
}

TEST_CASE("guard rejections surface from the runtime as GuardError") {
  kjit::testing::TempDir dir;
  kjit::Runtime runtime(options_for(dir.path()));
  auto spec = gpt_oss_spec();
  spec.dtype_kv = DType::kE5M2;
  CHECK_THROWS_AS(runtime.get(spec, kHopper), kjit::GuardError);
}

TEST_CASE("without a GPU, loading says so while compiling works") {
  if (kjit::cuda_available()) return;  // covered by the GPU tests there
  kjit::testing::TempDir dir;
  kjit::Runtime runtime(options_for(dir.path()));
  const auto kernel = runtime.get(gpt_oss_spec(), kHopper);
  try {
    kernel.function(0);
    FAIL("expected CudaError");
  } catch (const kjit::CudaError& error) {
    CHECK(std::string(error.what()).find("no CUDA") != std::string::npos);
  }
}
