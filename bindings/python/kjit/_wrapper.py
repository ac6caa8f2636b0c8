"""A FlashInfer-style decode wrapper over kjit's batch decode kernels."""
from . import _kjit
from ._dtypes import dtype_name


class BatchDecodeWithPagedKVCacheWrapper(_kjit.DecodePlan):
    """Batch decode attention over a paged KV cache, FlashInfer's calling convention.

    ``plan`` does the host-side work once per batch layout (guard, kernel lookup, page-table
    checks, split-KV schedule); ``run`` only validates and launches on the current stream: no
    synchronisation, and no host allocation when ``out`` is given, so it can be captured in a
    CUDA graph once planned. ``run`` is inherited from the C++ class unchanged: one call from
    Python straight into C++ (see its docstring). Runs sharing one workspace buffer must not
    overlap on the GPU (one stream, or ordered): split-KV keeps partial results and counters there.
    """

    def __init__(self, workspace_buffer, kv_layout: str = "NHD"):
        super().__init__(workspace_buffer, kv_layout)
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
        super().plan(indptr, indices, last_page_len, num_qo_heads, num_kv_heads, head_dim,
                     page_size, dtype_name(q_data_type), dtype_name(kv_data_type),
                     dtype_name(o_data_type), use_sinks, window_left, logits_soft_cap, sm_scale)
