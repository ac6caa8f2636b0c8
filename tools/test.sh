#!/usr/bin/env bash
# Set-up command 2 (README): install, build, and run the whole test suite, then run it again
# under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, without the Python module,
# whose interpreter would need the sanitizer runtime preloaded). GPU tests report "Skipped" on
# machines without a CUDA device. KJIT_SKIP_SANITIZE=1 skips the second pass.
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
