#include <doctest/doctest.h>

#include <set>
#include <string>

#include "guard.hpp"
#include "uri.hpp"

using kjit::DType;

TEST_CASE("the gpt-oss-120b decode variant has the documented URI") {
  kjit::KernelSpec spec;
  spec.dtype_q = DType::kBF16;
  spec.dtype_kv = DType::kE4M3;
  spec.head_dim = 64;
  spec.use_sinks = true;
  const std::string uri = kjit::make_uri(spec);
  CHECK(uri ==
        "batch_decode_with_attention_sink_dtype_q_bf16_dtype_kv_e4m3_dtype_o_bf16_dtype_idx_i32_"
        "head_dim_64_use_swa_0_use_logits_cap_0");
  CHECK(uri.find("attention_sink") != std::string::npos);
  CHECK(uri.find("e4m3") != std::string::npos);
  spec.use_sinks = false;
  CHECK(kjit::make_uri(spec).find("attention_sink") == std::string::npos);
}

TEST_CASE("distinct accepted specs have distinct URIs") {
  std::set<std::string> uris;
  int specs = 0;
  for (DType q : {DType::kF16, DType::kBF16}) {
    for (DType kv : {DType::kF16, DType::kBF16, DType::kE4M3, DType::kE5M2}) {
      for (DType o : {DType::kF16, DType::kBF16}) {
        for (int head_dim : {64, 128, 256}) {
          for (int flags = 0; flags < 8; ++flags) {
            kjit::KernelSpec spec;
            spec.dtype_q = q;
            spec.dtype_kv = kv;
            spec.dtype_o = o;
            spec.head_dim = head_dim;
            spec.use_sinks = flags & 1;
            spec.use_swa = flags & 2;
            spec.use_logits_cap = flags & 4;
            if (!kjit::validate(spec).ok()) continue;
            ++specs;
            uris.insert(kjit::make_uri(spec));
          }
        }
      }
    }
  }
  CHECK(specs > 0);
  CHECK(uris.size() == static_cast<std::size_t>(specs));
}

TEST_CASE("dtype_o defaults to dtype_q in the URI") {
  kjit::KernelSpec spec;
  spec.dtype_q = DType::kF16;
  CHECK(kjit::make_uri(spec).find("dtype_o_f16") != std::string::npos);
}
