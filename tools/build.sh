#!/usr/bin/env bash
# Configures and builds kjit into build/ (extra arguments go to cmake).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
cmake -S . -B build -G Ninja "$@" >/dev/null
cmake --build build
