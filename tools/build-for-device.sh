#!/usr/bin/env bash
# Builds, on the CPU machine, what the device machine runs: it cannot install packages, so it
# gets a Release build of kjit, kjit_gpu_tests and the Python package for its python3 (3.12),
# copied to build-device/ (git-ignored) and named in the device tool's `carry`.
#   PYTHON312=/path/to/python3.12 tools/build-for-device.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python312="${PYTHON312:-$HOME/.pyenv/versions/3.12.1/bin/python}"
"$python312" -c "import nanobind" 2>/dev/null || "$python312" -m pip install -q "nanobind>=2.10.1"
cmake -S . -B build-device-tree -G Ninja -DCMAKE_BUILD_TYPE=Release -DKJIT_BUILD_PYTHON=ON \
      -DPython_EXECUTABLE="$python312" >/dev/null
cmake --build build-device-tree --target kjit_cli kjit_gpu_tests kjit_bench _kjit
rm -rf build-device && mkdir -p build-device/python
cp build-device-tree/kjit build-device-tree/kjit-bench build-device-tree/tests/kjit_gpu_tests build-device/
cp -r build-device-tree/python/kjit build-device/python/
strip build-device/kjit build-device/kjit-bench build-device/kjit_gpu_tests build-device/python/kjit/*.so
du -sh build-device
