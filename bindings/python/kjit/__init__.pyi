from typing import Any

from . import cache as cache

__version__: str

class Error(RuntimeError): ...

def parse_dtype(dtype: Any) -> str: ...
def kernel_uri(dtype_q: Any, dtype_kv: Any, head_dim: int, *, use_sinks: bool = ...,
               use_swa: bool = ..., use_logits_cap: bool = ..., dtype_o: Any = ...) -> str: ...
def get_kernel(dtype_q: Any, dtype_kv: Any, head_dim: int, *, use_sinks: bool = ...,
               use_swa: bool = ..., use_logits_cap: bool = ..., dtype_o: Any = ...,
               arch: str | None = ...) -> dict[str, Any]: ...

class BatchDecodeWithPagedKVCacheWrapper:
    kv_layout: str
    def __init__(self, workspace_buffer: Any, kv_layout: str = ...) -> None: ...
    def plan(self, indptr: Any, indices: Any, last_page_len: Any, num_qo_heads: int,
             num_kv_heads: int, head_dim: int, page_size: int, *, q_data_type: Any = ...,
             kv_data_type: Any = ..., o_data_type: Any = ..., use_sinks: bool = ...,
             window_left: int = ..., logits_soft_cap: float = ...,
             sm_scale: float | None = ...) -> None: ...
    @property
    def kernel_uri(self) -> str: ...
    def run(self, q: Any, kv_cache: Any, *, sinks: Any = ..., k_scale: float = ...,
            v_scale: float = ..., return_lse: bool = ..., out: Any = ..., lse: Any = ...,
            stream: Any = ...) -> Any: ...
