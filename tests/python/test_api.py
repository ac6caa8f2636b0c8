"""The Python surface that needs no GPU: dtypes, guard errors, URIs, kernels, cache, arguments."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import kjit

GPT_OSS_URI = ("batch_decode_with_attention_sink_dtype_q_bf16_dtype_kv_e4m3_dtype_o_bf16_"
               "dtype_idx_i32_head_dim_64_use_swa_0_use_logits_cap_0")


class FakeTorchDtype:
    """Stands in for torch.dtype, whose str() is e.g. 'torch.bfloat16'."""

    def __init__(self, name):
        self._name = name

    def __str__(self):
        return f"torch.{self._name}"


@pytest.mark.parametrize("given, short", [
    ("bf16", "bf16"), ("bfloat16", "bf16"), (FakeTorchDtype("bfloat16"), "bf16"),
    (FakeTorchDtype("float8_e4m3fn"), "e4m3"), (FakeTorchDtype("float16"), "f16"),
    (np.dtype("float16"), "f16"), (np.dtype("float32"), "f32"), ("fp8_e5m2", "e5m2"),
])
def test_dtype_arguments(given, short):
    assert kjit.parse_dtype(given) == short


def test_unknown_dtype_is_a_value_error():
    with pytest.raises(ValueError, match="unknown dtype 'float64'.*bf16"):
        kjit.parse_dtype("float64")


def test_gpt_oss_uri_is_the_sink_kernel_with_e4m3_kv():
    uri = kjit.kernel_uri(FakeTorchDtype("bfloat16"), FakeTorchDtype("float8_e4m3fn"), 64,
                          use_sinks=True)
    assert uri == GPT_OSS_URI
    assert "attention_sink" in uri and "e4m3" in uri


@pytest.mark.parametrize("q, kv, sinks, message", [
    ("float8_e4m3fn", "float8_e4m3fn", True, "FP8 queries are not supported"),
    ("float8_e5m2", "bfloat16", False, "FP8 queries are not supported"),
    ("bfloat16", "float8_e5m2", True, "not supported with attention sinks"),
    ("bfloat16", "float32", True, "not supported with attention sinks"),
    ("bfloat16", "float8_e4m3fnuz", False, "ROCm"),
])
def test_guard_rejections_are_not_implemented_errors(q, kv, sinks, message):
    with pytest.raises(NotImplementedError, match=message):
        kjit.kernel_uri(q, kv, 64, use_sinks=sinks)
    with pytest.raises(NotImplementedError, match=message):
        kjit.get_kernel(q, kv, 64, use_sinks=sinks, arch="sm_90")


def test_targets_before_sm80_are_not_implemented_errors():
    with pytest.raises(NotImplementedError, match="sm_80 or newer.*got sm_75"):
        kjit.get_kernel("bf16", "e4m3", 64, use_sinks=True, arch="sm_75")


def test_bad_head_dim_is_rejected_by_the_guard():
    with pytest.raises(NotImplementedError, match="64, 128, 256"):
        kjit.kernel_uri("bf16", "bf16", 96)


def test_get_kernel_memory_then_disk_in_a_new_process(cache_dir):
    first = kjit.get_kernel("bf16", "e4m3", 64, use_sinks=True, arch="sm_90")
    assert first["uri"] == GPT_OSS_URI
    assert first["origin"] in ("compiled", "disk")
    assert kjit.get_kernel("bf16", "e4m3", 64, use_sinks=True, arch="sm_90")["origin"] == "memory"
    code = ("import json, kjit; print(json.dumps(kjit.get_kernel('bf16', 'e4m3', 64, "
            "use_sinks=True, arch='sm_90')))")
    env = dict(os.environ, KJIT_CACHE_DIR=cache_dir)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            check=True)
    other = json.loads(result.stdout)
    assert other["origin"] == "disk" and other["key"] == first["key"]
    with pytest.raises(ValueError, match="sm_XY"):
        kjit.get_kernel("bf16", "bf16", 64, arch="hopper")


def test_cache_list_stats_clear():
    kjit.get_kernel("f16", "bf16", 128, arch="sm_90")
    kjit.get_kernel("bf16", "e4m3", 64, use_sinks=True, arch="sm_90")
    rows = kjit.cache.list()
    assert {r["uri"] for r in rows} >= {GPT_OSS_URI}
    assert all(r["bytes"] > 0 and len(r["key"]) == 64 for r in rows)
    assert [r["uri"] for r in kjit.cache.list("attention_sink")] == [GPT_OSS_URI]
    stats = kjit.cache.stats()
    assert stats["entries"] == len(rows) and stats["total_bytes"] > 0
    assert kjit.cache.clear("attention_sink") == 1
    assert kjit.cache.list("attention_sink") == []
    assert kjit.cache.clear() == len(rows) - 1
    assert kjit.cache.stats()["entries"] == 0


def test_wrapper_arguments_are_checked():
    host_buffer = np.zeros(16, dtype=np.uint8)
    with pytest.raises(ValueError, match="CUDA tensor"):
        kjit.BatchDecodeWithPagedKVCacheWrapper(host_buffer)
    with pytest.raises(ValueError, match="kv_layout 'NDH'"):
        kjit.BatchDecodeWithPagedKVCacheWrapper(host_buffer, kv_layout="NDH")


def test_errors_are_exported():
    assert issubclass(kjit.Error, RuntimeError)
