#!/usr/bin/env bash
# Runs on the device machine (README "GPU checks"): the C++ and Python GPU tests and the
# benchmarks, from build-device/ made on the CPU machine by tools/build-for-device.sh.
#   tools/gpu-check.sh [all|tests|bench|python]   (default all; python = Python tests + bench)
# Prints a summary last.
set -uo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export KJIT_CACHE_DIR="${KJIT_CACHE_DIR:-/tmp/kjit-gpu-check-cache}"
export PYTHONPATH="$PWD/build-device/python:$PWD/tests/python" PYTHONUNBUFFERED=1
out="${OUT:-/tmp/kjit-gpu-check}"
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
status=0
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$summary"

rm -rf "$KJIT_CACHE_DIR"
for attempt in cold disk; do
  start=$EPOCHREALTIME
  build-device/kjit compile batch_decode --dtype-q bf16 --dtype-kv e4m3 --sinks --head-dim 64 | tail -1
  end=$EPOCHREALTIME
  python3 -c "print('gpt-oss variant, $attempt: whole kjit process %.0f ms' % (($end - $start) * 1e3))" | tee -a "$summary"
done

# The C++ and Python correctness tests share the GPU (neither is timed), so they run together.
if [ "$what" != bench ] && [ "$what" != profile ]; then
  python3 -m pytest -q -rs -s tests/python > "$out/python_tests.log" 2>&1 &
  python_pid=$!
fi
if [ "$what" = all ] || [ "$what" = tests ]; then
  build-device/kjit_gpu_tests > "$out/gpu_tests.log" 2>&1
  [ $? -eq 0 ] || status=1
  tail -n 10 "$out/gpu_tests.log" | tee -a "$summary"
fi
if [ -n "${python_pid:-}" ]; then
  wait "$python_pid" || status=1
  grep -E "toy decoder|E4M3 vs BF16|device [0-9] |passed|failed|SKIPPED" "$out/python_tests.log" |
      tee -a "$summary"
fi
if [ "$what" = all ] || [ "$what" = tests ]; then
  # memcheck over a subset (every page size, split and not): out-of-bounds or misaligned
  # accesses fail the run even where the numbers happen to come out right.
  KJIT_TEST_QUICK=1 compute-sanitizer --tool memcheck --error-exitcode 9 \
      build-device/kjit_gpu_tests > "$out/memcheck.log" 2>&1
  memcheck_status=$?
  [ "$memcheck_status" -eq 0 ] || status=1
  { echo "compute-sanitizer memcheck (KJIT_TEST_QUICK=1): exit $memcheck_status"
    grep -E "ERROR SUMMARY|passed, " "$out/memcheck.log"; } | tee -a "$summary"
fi
if [ "$what" = all ] || [ "$what" = bench ]; then
  build-device/kjit-bench --json "$out/kjit_bench.json" 2>&1 | tee "$out/kjit_bench.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  cat "$out/kjit_bench.log" >> "$summary"
  # Tunable experiments: KJIT_BENCH_VARIANTS="stages=4,min_blocks=4;stages=6,min_blocks=3"
  IFS=';' read -ra variants <<< "${KJIT_BENCH_VARIANTS:-}"
  for variant in "${variants[@]}"; do
    [ -n "$variant" ] || continue
    echo "== KJIT_DECODE_TUNING=$variant" | tee -a "$summary"
    KJIT_DECODE_TUNING="$variant" build-device/kjit-bench --skip-jit 2>&1 | grep -vE "^JIT" | tee -a "$summary"
  done
fi
if [ "$what" = profile ] || [ -n "${KJIT_PROFILE:-}" ]; then
  # ncu on one case (KJIT_PROFILE="S1 e4m3"), clocks left alone as METHOD.md asks.
  read -r shape kv <<< "${KJIT_PROFILE:-S1 e4m3}"
  ncu --clock-control none --set full -k regex:kjit_batch_decode -c 1 \
      build-device/kjit-bench --only "$shape" --kv "$kv" --iterations 3 > "$out/ncu_${shape}_${kv}.txt" 2>&1
  grep -E "Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Registers Per|Warp Cycles Per Issued|Issue Slots Busy|Stall|L1/TEX Hit|L2 Hit|Compute \(SM\)" \
      "$out/ncu_${shape}_${kv}.txt" | head -40 | tee -a "$summary"
fi
if [ "$what" != tests ] && [ "$what" != profile ]; then
  python3 bench/decode_vs_torch.py --json "$out/decode_vs_torch.json" 2>&1 | tee "$out/bench.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  cat "$out/bench.log" >> "$summary"
fi
echo "== summary =="
cat "$summary"
exit $status
