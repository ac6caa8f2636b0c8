"""kjit: just-in-time compiled attention kernels with an on-disk cache.

Tensors are taken through DLPack, so PyTorch, CuPy and JAX arrays all work and kjit imports none
of them. Unsupported dtype combinations raise ``NotImplementedError`` (the dispatch guard's
message names what is supported); bad arguments raise ``ValueError``.
"""
from . import _kjit, cache
from ._dtypes import dtype_name
from ._kjit import Error
from ._wrapper import BatchDecodeWithPagedKVCacheWrapper

__version__ = "0.1.0"
__all__ = ["BatchDecodeWithPagedKVCacheWrapper", "Error", "cache", "get_kernel", "kernel_uri",
           "parse_dtype", "__version__"]


def parse_dtype(dtype) -> str:
    """kjit's short name ("bf16", "e4m3", ...) for a torch/numpy dtype or a name."""
    return _kjit.parse_dtype(dtype_name(dtype))


def kernel_uri(dtype_q, dtype_kv, head_dim: int, *, use_sinks: bool = False,
               use_swa: bool = False, use_logits_cap: bool = False, dtype_o=None) -> str:
    """The URI of the batch decode variant for this signature (raises if the guard rejects it)."""
    return _kjit.make_uri(dtype_name(dtype_q), dtype_name(dtype_kv), head_dim, use_sinks,
                          use_swa, use_logits_cap, dtype_name(dtype_o))


def get_kernel(dtype_q, dtype_kv, head_dim: int, *, use_sinks: bool = False,
               use_swa: bool = False, use_logits_cap: bool = False, dtype_o=None,
               arch: str | None = None) -> dict:
    """Compiles (or finds in the cache) a batch decode kernel.

    ``arch`` ("sm_90") targets a GPU that need not be present; without it the current GPU's
    architecture is used. Returns uri, key, origin ("memory", "disk" or "compiled"), arch, bytes
    and compile_ms.
    """
    return _kjit.get_kernel(dtype_name(dtype_q), dtype_name(dtype_kv), head_dim, use_sinks,
                            use_swa, use_logits_cap, dtype_name(dtype_o), arch)
