"""Shared set-up for the Python tests: a private cache directory for the whole session (set
before kjit is imported, since the runtime reads the environment once) and the GPU gate."""
import os
import tempfile

_cache = tempfile.mkdtemp(prefix="kjit-pytest-")
os.environ["KJIT_CACHE_DIR"] = _cache
os.environ.pop("KJIT_CACHE", None)

import pytest  # noqa: E402


def _gpu_reason():
    try:
        import torch
    except ImportError:
        return "GPU tests need PyTorch"
    if not torch.cuda.is_available():
        return "GPU tests need a CUDA device"
    return None


GPU_SKIP_REASON = _gpu_reason()
# Split-KV partial results live in the workspace; 128 MiB is what FlashInfer recommends too.
WORKSPACE_BYTES = 128 << 20
requires_gpu = pytest.mark.skipif(GPU_SKIP_REASON is not None, reason=GPU_SKIP_REASON or "")


@pytest.fixture(scope="session")
def cache_dir():
    return _cache
