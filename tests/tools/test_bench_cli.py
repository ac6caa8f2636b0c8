"""kjit-bench's command line (README "Benchmark results"): bad arguments are refused before any
GPU work, with exit code 2 and a message that says what is expected, so they are checked on
machines without a GPU too."""
import os
import subprocess

import pytest

KJIT_BENCH = os.environ.get("KJIT_BENCH_BIN", "build/kjit-bench")


def bench(*args):
    return subprocess.run([KJIT_BENCH, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("shape, complaint", [
    ("1:32768:64:x", "'x' is not a count"),
    ("1:32768", "expected B:L[,L...]:D[:W]"),
    ("1:32768:64:127:5", "expected B:L[,L...]:D[:W]"),
    ("1:4096,,64:64", "'' is not a count"),
    ("0:4096:64", "batch and lengths must be >= 1"),
    ("2:4096,0:64", "batch and lengths must be >= 1"),
    ("1:-5:64", "'-5' is not a count"),
])
def test_bad_shapes_are_refused_with_the_expected_form(shape, complaint):
    result = bench("--shape", shape)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"--shape {shape}" in result.stderr
    assert complaint in result.stderr


def test_usage_names_every_option():
    result = bench("--help")
    assert result.returncode == 2
    for option in ["--json", "--iterations", "--skip-jit", "--hnd", "--page-size",
                   "--sequential-pages", "--flush", "--schedule-sms", "--shape", "--only"]:
        assert option in result.stderr, option


def test_flush_takes_read_or_write():
    result = bench("--flush", "sometimes")
    assert result.returncode == 2
    assert "--flush takes read or write, got 'sometimes'" in result.stderr


@pytest.mark.parametrize("size", ["0", "-16", "sixteen"])
def test_page_size_must_be_positive(size):
    result = bench("--page-size", size)
    assert result.returncode == 2
    assert "--page-size takes a positive number of tokens" in result.stderr
