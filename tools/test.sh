#!/usr/bin/env bash
# Set-up command 2 (README): install, build, and run the whole test suite. GPU tests report
# "Skipped" on machines without a CUDA device.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh -DKJIT_BUILD_TESTS=ON "$@"
cd build
ctest --output-on-failure
