"""Dtype arguments: torch and numpy dtypes, their string forms, and kjit's short names."""


def dtype_name(dtype):
    """A name kjit's parser understands, or None."""
    if dtype is None or isinstance(dtype, str):
        return dtype
    name = getattr(dtype, "name", None)  # numpy / ml_dtypes / jax dtypes
    if isinstance(name, str):
        return name
    return str(dtype)  # torch.bfloat16 -> "torch.bfloat16"
