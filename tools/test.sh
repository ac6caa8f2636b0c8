#!/usr/bin/env bash
# Set-up command 2 (README): install, build, and run the whole test suite, then run it again
# under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, without the Python module,
# whose interpreter would need the sanitizer runtime preloaded). GPU tests report "Skipped" on
# machines without a CUDA device. Last, a short smoke run of each fuzz target (tools/fuzz.sh; the
# long runs are done by hand before a release). KJIT_SKIP_SANITIZE=1 skips the second pass,
# KJIT_SKIP_FUZZ=1 the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh -DKJIT_BUILD_TESTS=ON "$@"
(cd build && ctest --output-on-failure)
if [ "${KJIT_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== again under AddressSanitizer + UndefinedBehaviorSanitizer =="
  cmake -S . -B build-asan -G Ninja -DKJIT_SANITIZE=ON -DKJIT_BUILD_PYTHON=OFF \
        -DKJIT_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-asan
  (cd build-asan && ctest --output-on-failure)
fi
if [ "${KJIT_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz smoke: each target for 30 s =="
  tools/fuzz.sh 30
fi
