#!/usr/bin/env bash
# Builds, on the CPU machine, the binaries the device machine runs (it cannot install packages):
# a Release build whose kjit, kjit_gpu_tests and benchmark land in build-device/ (git-ignored),
# to be named in the device tool's `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-device-tree -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-device-tree --target kjit_cli kjit_gpu_tests
mkdir -p build-device
cp build-device-tree/kjit build-device-tree/tests/kjit_gpu_tests build-device/
strip build-device/*
du -sh build-device
