// libFuzzer target for everything that parses user text into a signature: dtype names, GPU
// archs, sizes, durations, tunables, and specs built from arbitrary bytes (guard + URI). Each
// either succeeds or throws kjit::Error; nothing else may happen.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "decode_tunables.hpp"
#include "dtype.hpp"
#include "errors.hpp"
#include "gpu_arch.hpp"
#include "guard.hpp"
#include "knobs.hpp"
#include "uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto expect_kjit_error = [](auto&& parse) {
    try {
      parse();
    } catch (const kjit::Error&) {
    }
  };
  expect_kjit_error([&] { kjit::parse_dtype(text); });
  expect_kjit_error([&] { kjit::GpuArch::parse(text); });
  expect_kjit_error([&] { kjit::knobs::parse_size(text); });
  expect_kjit_error([&] { kjit::knobs::parse_duration(text); });
  expect_kjit_error([&] { kjit::parse_decode_tunables(text, {}); });

  // A spec from raw bytes: any enum value, head_dim and flags.
  if (size >= 8) {
    kjit::KernelSpec spec;
    spec.dtype_q = static_cast<kjit::DType>(data[0] % 8);
    spec.dtype_kv = static_cast<kjit::DType>(data[1] % 8);
    if (data[2] & 1) spec.dtype_o = static_cast<kjit::DType>(data[2] / 2 % 8);
    spec.dtype_idx = static_cast<kjit::DType>(data[3] % 8);
    std::int32_t head_dim;
    std::memcpy(&head_dim, data + 4, 4);
    spec.head_dim = head_dim;
    spec.use_sinks = data[2] & 2;
    spec.use_swa = data[2] & 4;
    spec.use_logits_cap = data[2] & 8;
    spec.family = text.substr(8);
    const kjit::GuardResult result = kjit::validate(spec);
    if (result.ok()) {
      const std::string uri = kjit::make_uri(spec);
      if (uri.find(spec.use_sinks ? "attention_sink" : "with_kv_cache") == std::string::npos) {
        __builtin_trap();  // the URI must name the sink kernel exactly when sinks are on
      }
    } else if (result.message.empty()) {
      __builtin_trap();  // every rejection explains itself
    }
  }
  return 0;
}
