#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, with ASan + UBSan) and runs each for N seconds:
#   tools/fuzz.sh [N=60] [TARGET...]      (default: every target)
# Corpora persist in build-fuzz/corpus-*; a crash leaves crash-* files there and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_template_renderer fuzz_spec_parser)
out=build-fuzz
mkdir -p "$out"
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -DFMT_HEADER_ONLY -Iruntime -I.)
sources=(runtime/template_renderer.cpp runtime/dtype.cpp runtime/gpu_arch.cpp runtime/knobs.cpp
         runtime/guard.cpp runtime/uri.cpp runtime/kernel_spec.cpp runtime/decode_tunables.cpp
         runtime/log.cpp)
status=0
for target in "${targets[@]}"; do
  clang++ "${flags[@]}" "tests/fuzz/$target.cpp" "${sources[@]}" -o "$out/$target"
  mkdir -p "$out/corpus-$target"
  echo "== $target for ${seconds}s"
  (cd "$out" && "./$target" -max_total_time="$seconds" -print_final_stats=1 \
       -artifact_prefix="corpus-$target/" "corpus-$target" 2>&1 | tail -n 12) || status=1
done
exit $status
