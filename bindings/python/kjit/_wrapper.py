"""A FlashInfer-style decode wrapper over kjit's batch decode kernels."""
import sys

from . import _kjit
from ._dtypes import dtype_name

_TORCH_DTYPES = {"bf16": "bfloat16", "f16": "float16"}


def _stream_handle(stream, device: int) -> int:
    """cudaStream_t as an int: an explicit stream (int, torch/cupy stream object), else the
    current stream of PyTorch or CuPy if the host uses one, else the legacy default stream."""
    if stream is not None:
        if isinstance(stream, int):
            return stream
        for attribute in ("cuda_stream", "ptr"):  # torch.cuda.Stream, cupy Stream
            if hasattr(stream, attribute):
                return int(getattr(stream, attribute))
        raise ValueError(f"stream must be an int or a torch/cupy stream, got {type(stream)!r}")
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        # The raw getter costs ~0.1 us; torch.cuda.current_stream builds a Stream object.
        raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
        return raw(device) if raw is not None else torch.cuda.current_stream(device).cuda_stream
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        return cupy.cuda.get_current_stream().ptr
    return 0


class BatchDecodeWithPagedKVCacheWrapper:
    """Batch decode attention over a paged KV cache, FlashInfer's calling convention.

    ``plan`` does the host-side work once per batch layout (guard, kernel lookup, page-table
    checks); ``run`` only validates and launches on the current stream: no host allocation, no
    synchronisation, so it can be captured in a CUDA graph once planned.
    """

    def __init__(self, workspace_buffer, kv_layout: str = "NHD"):
        self._plan = _kjit.DecodePlan(workspace_buffer, kv_layout)
        self._o_dtype = None
        self.kv_layout = kv_layout

    def plan(self, indptr, indices, last_page_len, num_qo_heads: int, num_kv_heads: int,
             head_dim: int, page_size: int, *, q_data_type="bfloat16", kv_data_type=None,
             o_data_type=None, use_sinks: bool = False, window_left: int = -1,
             logits_soft_cap: float = 0.0, sm_scale: float | None = None) -> None:
        """Prepares decode for a batch whose pages are given in CSR form (int32 tensors; indptr
        and last_page_len are read on the host, copied from the GPU if they live there, and must
        not change before the next plan; indices must be on the GPU).

        ``kv_data_type`` defaults to ``q_data_type``; ``window_left >= 0`` selects the sliding
        window kernel; ``logits_soft_cap > 0`` the capped one; ``sm_scale`` defaults to
        1/sqrt(head_dim). Raises NotImplementedError for unsupported dtype combinations.
        """
        kv_data_type = q_data_type if kv_data_type is None else kv_data_type
        self._plan.plan(indptr, indices, last_page_len, num_qo_heads, num_kv_heads, head_dim,
                        page_size, dtype_name(q_data_type), dtype_name(kv_data_type),
                        dtype_name(o_data_type), use_sinks, window_left, logits_soft_cap,
                        sm_scale, _stream_handle(None, self._plan.device))
        self._o_dtype = o_data_type

    @property
    def kernel_uri(self) -> str:
        """The URI of the kernel ``plan`` selected."""
        return self._plan.kernel_uri

    def run(self, q, kv_cache, *, sinks=None, k_scale: float = 1.0, v_scale: float = 1.0,
            return_lse: bool = False, out=None, lse=None, stream=None):
        """Decode attention for ``q`` (batch, num_qo_heads, head_dim).

        ``kv_cache`` is a (k, v) tuple of (num_pages, page_size, num_kv_heads, head_dim) tensors
        (NHD; HND swaps the middle two), or one (num_pages, 2, ...) tensor. FP8 caches may be
        float8 tensors or uint8 views. ``sinks`` (num_qo_heads,) float32 is required exactly when
        the plan used ``use_sinks=True``. Returns ``out``, or ``(out, lse)`` with
        ``return_lse``.
        """
        if isinstance(kv_cache, (tuple, list)):
            if len(kv_cache) != 2:
                raise ValueError("kv_cache must be a (k, v) pair or one (num_pages, 2, ...) tensor")
            k, v = kv_cache
        else:
            k, v = kv_cache, None
        if out is None:
            if self._o_dtype is None:
                out = q.new_empty(q.shape)
            else:  # a different output dtype: only torch tensors can allocate it for us
                torch = sys.modules["torch"]
                out = q.new_empty(q.shape, dtype=getattr(torch, _TORCH_DTYPES[self._plan.dtype_o]))
        if return_lse and lse is None:
            import torch  # only reached when the caller passes torch tensors without lse
            lse = torch.empty((q.shape[0], q.shape[1]), dtype=torch.float32, device=q.device)
        self._plan.run(q, k, v, out, lse if return_lse else None, sinks, float(k_scale),
                       float(v_scale), _stream_handle(stream, self._plan.device))
        return (out, lse) if return_lse else out
