"""bench/trace_decode.py, the per-CTA %globaltimer trace of the decode kernel (bench/RESULTS.md,
"Where a CTA's time goes"): its patched templates must still compile when the kernel changes
(NVRTC needs no GPU), and its report must read the kernel's TR lines."""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
TRACE = ROOT / "bench" / "trace_decode.py"
KJIT = os.environ.get("KJIT_BIN", "build/kjit")


def test_patched_templates_compile_with_the_stamps(tmp_path):
    subprocess.run([sys.executable, TRACE, "patch", tmp_path], check=True, capture_output=True)
    source = (tmp_path / "templates" / "batch_decode.cuh").read_text()
    for stamp in ["trace_start", "trace_item", "trace_page", "trace_tile", "trace_loop",
                  "trace_rows", "printf(\"TR "]:
        assert stamp in source, stamp
    merge = (tmp_path / "templates" / "merge_states.cuh").read_text()
    for stamp in ["trace_start", "trace_wait", "printf(\"TM "]:
        assert stamp in merge, stamp
    env = dict(os.environ, KJIT_TEMPLATE_DIR=str(tmp_path / "templates"),
               KJIT_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([KJIT, "compile", "batch_decode", "--dtype-q", "bf16", "--dtype-kv",
                             "e4m3", "--sinks", "--head-dim", "64", "--arch", "sm_90"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "compiled for sm_90" in result.stdout


def test_report_takes_the_last_launch(tmp_path):
    log = tmp_path / "trace.log"
    lines = []
    for launch, loop_ns in [(0, 99000), (1, 20000)]:  # launches 1 ms apart
        for cta in range(4):
            start = launch * 1000000 + 100 * cta
            lines.append(f"TR {cta} {start} 400 1000 4000 {4000 + loop_ns} {5500 + loop_ns}")
        # Two merge CTAs, started 2 us into the launch, released 1 us after its last CTA ended.
        grid_end = launch * 1000000 + 300 + 5500 + loop_ns
        for cta in range(2):
            start = launch * 1000000 + 2000
            lines.append(f"TM {cta} {start} {grid_end + 1000 - start} {grid_end + 3000 - start}")
        lines.append("a line kjit-bench printed")
    log.write_text("\n".join(lines) + "\n")
    result = subprocess.run([sys.executable, TRACE, "report", log], check=True,
                            capture_output=True, text=True)
    assert "launch 2 of 2, 4 CTAs" in result.stdout
    loop = next(line for line in result.stdout.splitlines() if line.startswith("+ loop "))
    assert loop.split()[-4:] == ["20.00"] * 4  # the second launch's loop, not the first's
    epilogue = next(line for line in result.stdout.splitlines() if line.startswith("+ epilogue"))
    assert epilogue.split()[-1] == "1.50"
    assert "merge: 2 CTAs" in result.stdout  # the second launch's two, not all four
    released = next(line for line in result.stdout.splitlines() if "its wait returned" in line)
    assert released.split()[-1] == f"{(300 + 5500 + 20000 + 1000) / 1e3:.2f}"
