#!/usr/bin/env bash
# Runs on the device machine (see README "GPU checks"): the GPU tests from a build made on the
# CPU machine with tools/build-for-device.sh, carried as build-device/. Prints a summary last.
set -uo pipefail
cd "$(dirname "$0")/.."
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export KJIT_CACHE_DIR="${KJIT_CACHE_DIR:-/tmp/kjit-gpu-check-cache}"
out="${OUT:-/tmp/kjit-gpu-check}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
status=0
build-device/kjit doctor || status=1
build-device/kjit_gpu_tests 2>&1 | tee "$out/gpu_tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
echo "== summary =="
tail -n 12 "$out/gpu_tests.log"
exit $status
