"""The kjit CLI contract (README "CLI"): commands, --json output and exit codes."""
import json
import os
import subprocess

import pytest

KJIT = os.environ.get("KJIT_BIN", "build/kjit")
GPT_OSS = ["compile", "batch_decode", "--dtype-q", "bf16", "--dtype-kv", "e4m3", "--sinks",
           "--head-dim", "64", "--arch", "sm_90"]
GPT_OSS_URI = ("batch_decode_with_attention_sink_dtype_q_bf16_dtype_kv_e4m3_dtype_o_bf16_"
               "dtype_idx_i32_head_dim_64_use_swa_0_use_logits_cap_0")


def kjit(cache, *args, check_rc=0):
    env = dict(os.environ, KJIT_CACHE_DIR=str(cache))
    env.pop("KJIT_CACHE", None)
    result = subprocess.run([KJIT, *args], capture_output=True, text=True, env=env, timeout=120)
    if check_rc is not None:
        assert result.returncode == check_rc, (result.stdout, result.stderr)
    return result


def kjit_json(cache, *args):
    return json.loads(kjit(cache, "--json", *args).stdout)


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_compile_then_disk_in_a_second_process(cache):
    first = kjit_json(cache, *GPT_OSS)
    assert first["uri"] == GPT_OSS_URI
    assert first["origin"] == "compiled"
    assert first["arch"] == "sm_90"
    assert first["bytes"] > 1000
    assert len(first["key"]) == 64
    second = kjit_json(cache, *GPT_OSS)  # a new process: the disk tier
    assert second["origin"] == "disk"
    assert second["key"] == first["key"]
    text = kjit(cache, *GPT_OSS).stdout
    assert GPT_OSS_URI in text and "disk" in text


def test_list_show_stats_clear(cache):
    kjit(cache, *GPT_OSS)
    kjit(cache, "compile", "batch_decode", "--dtype-q", "f16", "--dtype-kv", "bf16",
         "--head-dim", "128", "--arch", "sm_90")
    rows = kjit_json(cache, "list")
    assert len(rows) == 2
    for row in rows:
        for field in ("uri", "key", "arch", "bytes", "hits", "created_at", "last_used_at"):
            assert field in row
    assert [r["uri"] for r in kjit_json(cache, "list", "--match", "attention_sink")] == [GPT_OSS_URI]
    assert kjit_json(cache, "list", "--match", "\udcff") == []  # arbitrary bytes are no crash
    assert GPT_OSS_URI in kjit(cache, "list").stdout

    key = [r["key"] for r in rows if r["uri"] == GPT_OSS_URI][0]
    shown = kjit_json(cache, "show", key[:12], "--source")
    assert shown["uri"] == GPT_OSS_URI
    assert "using DTypeKV = __nv_fp8_e4m3;" in shown["source"]
    assert "kUseSinks = true" in kjit(cache, "show", GPT_OSS_URI, "--source").stdout
    assert kjit(cache, "show", "nonexistent-kernel", check_rc=1).stderr

    stats = kjit_json(cache, "stats")
    assert stats["entries"] == 2 and stats["total_bytes"] > 0 and stats["compile_ms"] > 0
    assert "entries" in kjit(cache, "stats").stdout

    assert kjit_json(cache, "clear", "--match", "e4m3")["removed"] == 1
    assert len(kjit_json(cache, "list")) == 1
    assert "removed 1 entry" in kjit(cache, "clear").stdout
    assert kjit_json(cache, "list") == []


def test_fp8_query_is_rejected_with_exit_3(cache):
    result = kjit(cache, "compile", "batch_decode", "--dtype-q", "e4m3", "--dtype-kv", "e4m3",
                  "--head-dim", "64", "--arch", "sm_90", check_rc=3)
    assert "FP8 queries are not supported" in result.stderr
    assert "f16, bf16" in result.stderr


@pytest.mark.parametrize("args", [
    ["--dtype-q", "bf16", "--dtype-kv", "e5m2", "--sinks", "--head-dim", "64"],
    ["--dtype-q", "bf16", "--dtype-kv", "f32", "--sinks", "--head-dim", "64"],
    ["--dtype-q", "bf16", "--dtype-kv", "bf16", "--head-dim", "96"],
    ["--dtype-q", "bf16", "--dtype-kv", "float8_e4m3fnuz", "--head-dim", "64"],
])
def test_guard_rejections_exit_3(cache, args):
    result = kjit(cache, "compile", "batch_decode", *args, "--arch", "sm_90", check_rc=3)
    assert "supported" in result.stderr


def test_unknown_family_is_rejected(cache):
    kjit(cache, "compile", "batch_prefill", "--dtype-q", "bf16", "--dtype-kv", "bf16",
         "--head-dim", "64", "--arch", "sm_90", check_rc=3)


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["compile", "batch_decode", "--dtype-q", "bf16"],
    ["compile", "batch_decode", "--dtype-q", "bf16", "--dtype-kv", "bf16", "--head-dim", "x"],
    ["compile", "batch_decode", "--dtype-q", "nope", "--dtype-kv", "bf16", "--head-dim", "64",
     "--arch", "sm_90"],
    ["compile", "batch_decode", "--dtype-q", "bf16", "--dtype-kv", "bf16", "--head-dim", "64",
     "--arch", "hopper"],
])
def test_usage_errors_exit_2(cache, args):
    kjit(cache, *args, check_rc=2)


def test_doctor(cache):
    report = kjit_json(cache, "doctor")
    assert report["nvrtc_version"].startswith("13.")
    assert "sm_90" in report["nvrtc_targets"]
    assert report["cache"]["permissions"] == "ok"
    assert report["cache"]["integrity"] == "ok"
    assert "driver" in report and isinstance(report["gpus"], list)
    assert "NVRTC" in kjit(cache, "doctor").stdout


def test_world_writable_cache_is_refused_but_compiling_still_works(tmp_path):
    cache = tmp_path / "shared"
    cache.mkdir()
    cache.chmod(0o777)
    result = kjit(cache, "--json", *GPT_OSS)
    assert "writable by group or others" in result.stderr
    assert json.loads(result.stdout)["origin"] == "compiled"
    kjit(cache, "doctor", check_rc=1)


def test_compile_without_gpu_or_arch_says_what_to_do(cache):
    result = subprocess.run([KJIT, "doctor", "--json"], capture_output=True, text=True)
    if json.loads(result.stdout)["gpus"]:
        pytest.skip("a GPU is present: the current device's arch is used")
    result = kjit(cache, "compile", "batch_decode", "--dtype-q", "bf16", "--dtype-kv", "bf16",
                  "--head-dim", "64", check_rc=1)
    assert "--arch" in result.stderr


def test_prune_and_verify(cache):
    kjit(cache, *GPT_OSS)
    kjit(cache, "compile", "batch_decode", "--dtype-q", "bf16", "--dtype-kv", "bf16",
         "--head-dim", "64", "--arch", "sm_90")
    report = kjit_json(cache, "verify")
    assert report["integrity"] == "ok" and report["bad_entries"] == []
    assert kjit_json(cache, "prune", "--older-than", "30d")["evicted"] == []
    evicted = kjit_json(cache, "prune", "--max-size", "1K")["evicted"]
    assert len(evicted) == 2 and kjit_json(cache, "list") == []
    kjit(cache, *GPT_OSS)
    assert "evicted 1 entry" in kjit(cache, "prune", "--match", "attention_sink").stdout
    kjit(cache, "prune", check_rc=2)                       # nothing to prune by
    kjit(cache, "prune", "--max-size", "2X", check_rc=2)   # SIZE accepts 500M, 2G
    kjit(cache, "prune", "--older-than", "soon", check_rc=2)


def test_verify_exit_code_on_a_corrupt_entry(cache):
    import sqlite3
    kjit(cache, *GPT_OSS)
    db = sqlite3.connect(cache / "kernels.sqlite3")
    (cubin,) = db.execute("SELECT cubin FROM kernels").fetchone()
    db.execute("UPDATE kernels SET cubin = ?", (bytes([cubin[0] ^ 1]) + cubin[1:],))
    db.commit()
    db.close()
    result = kjit(cache, "verify", check_rc=1)
    assert "checksum mismatch" in result.stdout
    kjit(cache, "verify", "--fix", check_rc=0)
    kjit(cache, "verify", check_rc=0)
    assert kjit_json(cache, "list") == []
