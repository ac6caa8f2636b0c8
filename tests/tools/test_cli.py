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
    kjit(cache, "list", "--match", "\udcff", check_rc=2)  # not UTF-8: a usage error (test_storage)
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


def test_targets_before_sm80_are_rejected_with_exit_3_and_nothing_stored(cache):
    args = [*GPT_OSS[:-1], "sm_75"]
    result = kjit(cache, *args, check_rc=3)
    assert "sm_80 or newer" in result.stderr and "sm_75" in result.stderr
    assert "ptxas" not in result.stderr  # refused before NVRTC, not a page of PTX errors
    assert kjit_json(cache, "list") == []


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
    result = kjit(cache, "--json", *GPT_OSS, check_rc=1)  # compiled, but not saved
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


def test_warm_presets_and_spec_files(cache, tmp_path):
    first = kjit_json(cache, "warm", "gpt-oss-120b", "--arch", "sm_90", "--jobs", "2")
    assert (first["compiled"], first["cached"], first["failed"]) == (8, 0, 0)
    uris = [k["uri"] for k in first["kernels"]]
    assert all("attention_sink" in uri and "head_dim_64" in uri for uri in uris)
    assert {"e4m3" in uri for uri in uris} == {True, False}
    again = kjit(cache, "warm", "gpt-oss-120b", "--arch", "sm_90")  # not a terminal: a line each
    assert "0 compiled, 8 already cached, 0 failed" in again.stdout
    assert again.stdout.count("disk") == 8
    specs = tmp_path / "specs.json"
    specs.write_text(json.dumps([
        {"dtype_q": "bf16", "dtype_kv": "e4m3", "head_dim": 64, "use_sinks": True},
        {"dtype_q": "bf16", "dtype_kv": "e5m2", "head_dim": 64, "use_sinks": True}]))
    mixed = kjit(cache, "--json", "warm", str(specs), "--arch", "sm_90", check_rc=1)
    report = json.loads(mixed.stdout)
    assert (report["cached"], report["failed"]) == (1, 1)
    assert "not supported with attention sinks" in report["kernels"][1]["error"]
    kjit(cache, "warm", "no-such-model", "--arch", "sm_90", check_rc=2)
    specs.write_text("{not json")
    kjit(cache, "warm", str(specs), "--arch", "sm_90", check_rc=2)


def test_export_and_import_bundles(cache, tmp_path):
    kjit(cache, "warm", "gpt-oss-120b", "--arch", "sm_90")
    bundle = tmp_path / "gpt-oss-e4m3.kjit"
    assert kjit_json(cache, "export", str(bundle), "--match", "e4m3")["exported"] == 4
    kjit(cache, "export", str(bundle), check_rc=1)  # never overwrites
    other = tmp_path / "other"
    assert kjit_json(other, "import", str(bundle))["imported"] == 4
    assert kjit_json(other, "import", str(bundle))["present"] == 4
    # Imported entries are found under the same keys: a warm run compiles nothing for them.
    assert kjit_json(other, *GPT_OSS)["origin"] == "disk"
    # A corrupt bundle entry is rejected, a non-bundle refused.
    import sqlite3
    db = sqlite3.connect(bundle)
    db.execute("UPDATE kernels SET cubin = zeroblob(length(cubin)) WHERE uri LIKE '%swa_1%'")
    db.commit()
    db.close()
    third = tmp_path / "third"
    result = json.loads(kjit(third, "--json", "import", str(bundle), check_rc=1).stdout)
    assert (result["imported"], result["rejected"]) == (2, 2)
    junk = tmp_path / "junk.kjit"
    junk.write_bytes(b"not a database" * 100)
    assert "not a readable kjit bundle" in kjit(third, "import", str(junk), check_rc=1).stderr


def test_killed_writers_leave_a_consistent_cache(cache):
    """50 rounds: start a writer, kill -9 it at a random moment, check the database."""
    import random
    import signal
    import sqlite3
    import time
    rng = random.Random(1122)
    env = dict(os.environ, KJIT_CACHE_DIR=str(cache))
    dims = ["64", "128", "256"]
    kvs = ["bf16", "f16", "e4m3", "e5m2"]
    for round_ in range(50):
        args = ["compile", "batch_decode", "--dtype-q", rng.choice(["bf16", "f16"]),
                "--dtype-kv", rng.choice(kvs), "--head-dim", rng.choice(dims), "--arch", "sm_90"]
        if rng.random() < 0.5:
            args.append("--swa")
        writer = subprocess.Popen([KJIT, *args], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.8))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        db = sqlite3.connect(cache / "kernels.sqlite3")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", round_
        db.close()
        assert kjit_json(cache, "verify")["bad_entries"] == [], round_
    print(f"50 kill -9 rounds: {len(kjit_json(cache, 'list'))} entries, all verified")
