#!/usr/bin/env python3
"""Where a decode CTA's time goes: %globaltimer stamps from every CTA, for one device run.

    bench/trace_decode.py patch DIR      # DIR/templates: templates/ with the stamps added
    KJIT_TEMPLATE_DIR=DIR/templates build-device/kjit-bench --iterations 3 --only S3 --kv bf16 > log
    bench/trace_decode.py report log     # per phase: min / median / p90 / max over the CTAs

Thread 0 of each decode CTA stamps its start, the moment its work item and its first page index
are in registers, its first tile landed, the end of its loop and the end of its epilogue (before
any merge in the grid), and keeps them in device memory; thread 0 of each merge-kernel CTA stamps
its start, the moment its wait for the decode grid returns and its end. The decode grid's last
CTA prints every CTA's stamps, or, when a merge grid follows, its first CTA does after its own
stamps (printf makes each launch ~1 ms long, so only the stamps before the print mean
anything). The report takes the last launch in the log. An experiment, not a build input: the
patched copy lives outside templates/, and the kernel's key covers its text.
"""
import pathlib
import shutil
import sys

HELPERS = """
namespace kjit {
__device__ __forceinline__ unsigned long long trace_now() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
// The stamp waits for `value`: an asm input must be in a register before the asm runs.
__device__ __forceinline__ unsigned long long trace_after(long long value) {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t) : "l"(value));
  return t;
}
// Rows of the decode CTAs (start, then the five stamps' offsets from it). They are printed after
// the decode grid, not by each CTA: CTAs printing while others still run slowed those down (a
// one-wave trace of S5 had CTAs' loops take 600 us).
constexpr int kTraceRows = 16384;
__device__ unsigned long long trace_rows[kTraceRows][6];
__device__ unsigned trace_done;  // decode CTAs finished in this launch
__device__ int trace_count;      // decode CTAs of the last launch
__device__ int trace_split;      // set: a merge grid follows and prints the rows after its wait
__device__ void trace_print_rows(int count) {
  for (int i = 0; i < count && i < kTraceRows; ++i) {
    const unsigned long long* row = trace_rows[i];
    printf("TR %d %llu %lld %lld %lld %lld %lld\\n", i, row[0], (long long)row[1],
           (long long)row[2], (long long)row[3], (long long)row[4], (long long)row[5]);
  }
}
}  // namespace kjit
"""

# (anchor in batch_decode.cuh, text inserted after it)
STAMPS = [
    ("const BatchDecodeWorkItem item = p.work_items[blockIdx.x];\n",
     "  const unsigned long long trace_item = trace_after(item.token_end);\n"),
    ("long long offset = tile_offset(p, item, first_base, end_base);\n",
     "  const unsigned long long trace_page = trace_after(offset);\n"
     "  unsigned long long trace_tile = 0;\n"),
    ("__syncwarp();  // the stage was filled by every lane; each reads rows others copied\n",
     "    if (trace_tile == 0) trace_tile = trace_now();\n"),
    ("__syncthreads();  // every warp is done with its stages: the epilogue reuses them\n",
     "  const unsigned long long trace_loop = trace_now();\n"),
]
START = "  allow_dependent_launch();"
END = "}\n\n}  // namespace kjit"
EPILOGUE_END = "  if (group_counters == nullptr) return;\n"
MERGE_START = "  const BatchDecodeMergeItem item = p.merge_items[blockIdx.x];"
MERGE_WAIT = "  wait_for_prerequisite_grids();\n"
MERGE_PRINT = """  if (threadIdx.x == 0) {
    const unsigned long long trace_end = trace_now();
    if (blockIdx.x == 0 && blockIdx.y == 0) trace_print_rows(trace_count), trace_split = 0;
    printf("TM %d %llu %lld %lld\\n", blockIdx.x + gridDim.x * blockIdx.y, trace_start,
           (long long)(trace_wait - trace_start), (long long)(trace_end - trace_start));
  }
"""
PRINT = """  if (threadIdx.x == 0) {
    const unsigned long long trace_end = trace_now();
    const int cta = blockIdx.x + gridDim.x * blockIdx.y, count = gridDim.x * gridDim.y;
    if (cta < kTraceRows) {
      unsigned long long* row = trace_rows[cta];
      row[0] = trace_start, row[1] = trace_item - trace_start, row[2] = trace_page - trace_start;
      row[3] = trace_tile - trace_start, row[4] = trace_loop - trace_start;
      row[5] = trace_end - trace_start;
    }
    if (item.partial_slot >= 0 && item.group_chunks == 0) trace_split = 1;  // merge kernel
    __threadfence();
    if (atomicAdd(&trace_done, 1u) == count - 1) {  // the grid's last CTA
      __threadfence();
      trace_done = 0, trace_count = count;
      if (*static_cast<volatile int*>(&trace_split) == 0) trace_print_rows(count);
    }
  }
"""


def patch(out_dir):
    source = pathlib.Path(__file__).resolve().parent.parent / "templates"
    target = pathlib.Path(out_dir) / "templates"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    path = target / "batch_decode.cuh"
    text = path.read_text()
    text = text.replace("namespace kjit {", HELPERS + "\nnamespace kjit {", 1)
    for anchor, stamp in [(START, "")] + STAMPS:
        if text.count(anchor) != 1:
            sys.exit(f"batch_decode.cuh changed: '{anchor.strip()}' is not there exactly once")
    text = text.replace(START, "  const unsigned long long trace_start = trace_now();\n" + START, 1)
    for anchor, stamp in STAMPS:
        text = text.replace(anchor, anchor + stamp, 1)
    # After the epilogue, before a merge in the grid (which only one CTA of a group does): thread 0
    # is in warp 0, which writes the output, so it is still running there.
    if text.count(EPILOGUE_END) != 1:
        sys.exit(f"batch_decode.cuh changed: '{EPILOGUE_END.strip()}' is not there exactly once")
    path.write_text(text.replace(EPILOGUE_END, PRINT + EPILOGUE_END))

    # The merge kernel: thread 0 (chunk lane 0) writes the output, so it also runs to the end.
    path = target / "merge_states.cuh"
    text = path.read_text()
    for anchor in [MERGE_START, MERGE_WAIT, END]:
        if text.count(anchor) != 1:
            sys.exit(f"merge_states.cuh changed: '{anchor.strip()}' is not there exactly once")
    text = text.replace(MERGE_START,
                        "  const unsigned long long trace_start = trace_now();\n" + MERGE_START)
    text = text.replace(MERGE_WAIT,
                        MERGE_WAIT + "  const unsigned long long trace_wait = trace_now();\n")
    head, tail = text.rsplit(END, 1)
    path.write_text(head + MERGE_PRINT + END + tail)
    print(f"{target}: set KJIT_TEMPLATE_DIR to it")


def report(logs):
    phases = ["work item", "+ page index", "+ first tile landed", "+ loop", "+ epilogue"]
    for log in logs:
        rows, merges = [], []
        for line in open(log, errors="replace"):
            fields = line.split()
            if len(fields) == 8 and fields[0] == "TR":
                rows.append([int(x) for x in fields[1:]])
            elif len(fields) == 5 and fields[0] == "TM":
                merges.append([int(x) for x in fields[1:]])
        rows.sort(key=lambda row: row[1])
        launches, current = [], []
        for row in rows:  # launches are apart by a flush of tens of microseconds
            if current and row[1] - current[-1][1] > 30000:
                launches.append(current)
                current = []
            current.append(row)
        if current:
            launches.append(current)
        if not launches:
            print(f"{log}: no TR lines")
            continue
        last = launches[-1]
        first_start = min(row[1] for row in last)

        def spread(values):
            values = sorted(values)
            pick = lambda q: values[min(len(values) - 1, int(q * len(values)))] / 1e3
            return f"{pick(0):8.2f} {pick(0.5):8.2f} {pick(0.9):8.2f} {values[-1] / 1e3:8.2f}"

        print(f"== {log}: launch {len(launches)} of {len(launches)}, {len(last)} CTAs, us")
        print(f"{'':28} {'min':>8} {'median':>8} {'p90':>8} {'max':>8}")
        for i, name in enumerate(phases):
            before = [0] * len(last) if i == 0 else [row[1 + i] for row in last]
            print(f"{name:28} {spread([row[2 + i] - b for row, b in zip(last, before)])}")
        print(f"{'loop end, from grid start':28} "
              f"{spread([row[1] + row[5] - first_start for row in last])}")
        print(f"{'CTA end, from grid start':28} "
              f"{spread([row[1] + row[6] - first_start for row in last])}")
        # The merge CTAs of the same launch: they start before the decode grid ends (programmatic
        # dependent launch) and at most a few microseconds after it.
        last_end = max(row[1] + row[6] for row in last)
        merge = [m for m in merges if first_start <= m[1] <= last_end + 30000]
        if merge:
            print(f"merge: {len(merge)} CTAs, from grid start")
            print(f"{'  merge CTA start':28} {spread([m[1] - first_start for m in merge])}")
            print(f"{'  its wait returned':28} {spread([m[1] + m[2] - first_start for m in merge])}")
            print(f"{'  merge CTA end':28} {spread([m[1] + m[3] - first_start for m in merge])}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "patch":
        patch(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "report":
        report(sys.argv[2:])
    else:
        sys.exit(__doc__)
