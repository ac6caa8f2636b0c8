#!/usr/bin/env python3
"""Where a decode CTA's time goes: %globaltimer stamps from every CTA, for one device run.

    bench/trace_decode.py patch DIR      # DIR/templates: templates/ with the stamps added
    KJIT_TEMPLATE_DIR=DIR/templates build-device/kjit-bench --iterations 3 --only S3 --kv bf16 > log
    bench/trace_decode.py report log     # per phase: min / median / p90 / max over the CTAs

Thread 0 of each decode CTA stamps its start, the moment its work item and its first page index
are in registers, its first tile landed, the end of its loop and the end of its epilogue, and
prints them once it is done (printf makes each launch ~1 ms long, so only the stamps before the
print mean anything). The report takes the last launch in the log. An experiment, not a build
input: the patched copy lives outside templates/, and the kernel's key covers its text.
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
PRINT = """  if (threadIdx.x == 0) {
    const unsigned long long trace_end = trace_now();
    printf("TR %d %llu %lld %lld %lld %lld %lld\\n", blockIdx.x, trace_start,
           (long long)(trace_item - trace_start), (long long)(trace_page - trace_start),
           (long long)(trace_tile - trace_start), (long long)(trace_loop - trace_start),
           (long long)(trace_end - trace_start));
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
    # The epilogue ends the kernel: print before its closing brace (thread 0 is in warp 0, which
    # writes the output, so it is still running there).
    head, tail = text.rsplit(END, 1)
    path.write_text(head + PRINT + END + tail)
    print(f"{target}: set KJIT_TEMPLATE_DIR to it")


def report(logs):
    phases = ["work item", "+ page index", "+ first tile landed", "+ loop", "+ epilogue"]
    for log in logs:
        rows = []
        for line in open(log, errors="replace"):
            fields = line.split()
            if len(fields) == 8 and fields[0] == "TR":
                rows.append([int(x) for x in fields[1:]])
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


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "patch":
        patch(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "report":
        report(sys.argv[2:])
    else:
        sys.exit(__doc__)
