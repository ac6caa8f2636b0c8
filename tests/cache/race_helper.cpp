// Test helper for tests/cache/test_race.py: asks for the same 4 kernels (sm_90) N times, each
// round with a fresh Runtime (so every round goes to the disk tier), and prints one line per
// request: "<origin> <key>".
#include <cstdio>
#include <cstdlib>

#include "runtime.hpp"

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 1;
  kjit::RuntimeOptions options = kjit::RuntimeOptions::from_environment();
  for (int round = 0; round < rounds; ++round) {
    kjit::Runtime runtime(options);
    for (kjit::DType kv : {kjit::DType::kBF16, kjit::DType::kE4M3}) {
      for (bool sinks : {false, true}) {
        kjit::KernelSpec spec;
        spec.dtype_q = kjit::DType::kBF16;
        spec.dtype_kv = kv;
        spec.head_dim = 64;
        spec.use_sinks = sinks;
        const kjit::Kernel kernel = runtime.get(spec, kjit::GpuArch{9, 0});
        std::printf("%s %s\n", kjit::origin_name(kernel.origin()), kernel.key().c_str());
      }
    }
  }
  return 0;
}
