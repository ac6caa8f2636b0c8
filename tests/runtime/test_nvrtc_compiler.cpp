// NVRTC needs no GPU: every accepted variant must compile to a cubin here.
#include <doctest/doctest.h>

#include <string>

#include "errors.hpp"
#include "guard.hpp"
#include "nvrtc_compiler.hpp"
#include "render.hpp"

using kjit::DType;

namespace {

bool is_elf(const std::string& bytes) {
  return bytes.rfind(
             "\x7f"
             "ELF",
             0) == 0;
}

kjit::Cubin compile(DType q, DType kv, bool sinks, int head_dim, const char* arch,
                    bool swa = false) {
  kjit::KernelSpec spec;
  spec.dtype_q = q;
  spec.dtype_kv = kv;
  spec.use_sinks = sinks;
  spec.use_swa = swa;
  spec.head_dim = head_dim;
  const kjit::RenderedSource rendered = kjit::render(spec, kjit::TemplateLibrary::embedded());
  return kjit::compile(rendered, kjit::GpuArch::parse(arch));
}

}  // namespace

TEST_CASE("every accepted dtype_q x dtype_kv x sinks compiles for sm_90 at head_dim 64 and 128") {
  int compiled = 0;
  for (DType q : {DType::kBF16, DType::kF16}) {
    for (DType kv : {DType::kBF16, DType::kF16, DType::kE4M3, DType::kE5M2}) {
      for (bool sinks : {false, true}) {
        kjit::KernelSpec spec;
        spec.dtype_q = q;
        spec.dtype_kv = kv;
        spec.use_sinks = sinks;
        if (!kjit::validate(spec).ok()) continue;
        for (int head_dim : {64, 128}) {
          CAPTURE(kjit::short_name(q));
          CAPTURE(kjit::short_name(kv));
          CAPTURE(sinks);
          CAPTURE(head_dim);
          const kjit::Cubin cubin = compile(q, kv, sinks, head_dim, "sm_90");
          CHECK(is_elf(cubin.bytes));
          CHECK(cubin.bytes.find("kjit_batch_decode") != std::string::npos);
          ++compiled;
        }
      }
    }
  }
  CHECK(compiled == 2 * 7 * 2);
}

TEST_CASE("a sample compiles for sm_80 and sm_89, and head_dim 256 with a window") {
  CHECK(is_elf(compile(DType::kBF16, DType::kE4M3, true, 64, "sm_80").bytes));
  CHECK(is_elf(compile(DType::kF16, DType::kE5M2, false, 128, "sm_89").bytes));
  CHECK(is_elf(compile(DType::kBF16, DType::kBF16, true, 256, "sm_90", true).bytes));
}

TEST_CASE("compile errors carry the URI, options, log and numbered source lines") {
  kjit::KernelSpec spec;
  kjit::RenderedSource rendered = kjit::render(spec, kjit::TemplateLibrary::embedded());
  rendered.source += "\nthis_is_not_cuda x;\n";
  try {
    kjit::compile(rendered, kjit::GpuArch::parse("sm_90"));
    FAIL("expected CompileError");
  } catch (const kjit::CompileError& error) {
    const std::string message = error.what();
    CHECK(message.find(rendered.uri) != std::string::npos);
    CHECK(message.find("--gpu-architecture=sm_90") != std::string::npos);
    CHECK(message.find("this_is_not_cuda") != std::string::npos);  // log and source line
    CHECK(message.find(">") != std::string::npos);                 // the marked line
    CHECK(message.find("around line") != std::string::npos);
  }
}

TEST_CASE("unsupported or malformed targets are rejected clearly") {
  CHECK_THROWS_AS(kjit::GpuArch::parse("hopper"), kjit::InvalidArgument);
  CHECK(kjit::GpuArch::parse("9.0").name() == "sm_90");
  CHECK(kjit::GpuArch::parse("compute_89").name() == "sm_89");
  kjit::KernelSpec spec;
  const auto rendered = kjit::render(spec, kjit::TemplateLibrary::embedded());
  try {
    kjit::compile(rendered, kjit::GpuArch::parse("sm_35"));
    FAIL("expected InvalidArgument");
  } catch (const kjit::InvalidArgument& error) {
    CHECK(std::string(error.what()).find("sm_90") != std::string::npos);  // lists targets
  }
}

TEST_CASE("rendering rejects what the guard rejects") {
  kjit::KernelSpec spec;
  spec.dtype_q = DType::kE4M3;
  CHECK_THROWS_AS(kjit::render(spec, kjit::TemplateLibrary::embedded()), kjit::GuardError);
}

TEST_CASE("the rendered config names the spec's types and flags") {
  kjit::KernelSpec spec;
  spec.dtype_q = DType::kBF16;
  spec.dtype_kv = DType::kE4M3;
  spec.head_dim = 64;
  spec.use_sinks = true;
  const auto rendered = kjit::render(spec, kjit::TemplateLibrary::embedded());
  CHECK(rendered.source.find("using DTypeKV = __nv_fp8_e4m3;") != std::string::npos);
  CHECK(rendered.source.find("using DTypeQ = nv_bfloat16;") != std::string::npos);
  CHECK(rendered.source.find("kUseSinks = true;") != std::string::npos);
  CHECK(rendered.source.find("kHeadDim = 64;") != std::string::npos);
  // NVRTC sees only embedded headers: the toolkit's and ours.
  bool has_fp8 = false, has_kernel = false;
  for (const auto& header : rendered.headers) {
    has_fp8 |= header.name == "cuda_fp8.h";
    has_kernel |= header.name == "batch_decode.cuh";
    CHECK(header.name.find(".jinja") == std::string_view::npos);
  }
  CHECK(has_fp8);
  CHECK(has_kernel);
}
