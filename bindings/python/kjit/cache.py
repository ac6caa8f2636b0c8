"""The on-disk kernel cache of this process's runtime (``KJIT_CACHE_DIR``)."""
from . import _kjit


def list(match: str | None = None) -> "list[dict]":  # noqa: A001 - mirrors `kjit list`
    """Cached kernels whose URI contains ``match`` (all when None), newest first."""
    return _kjit.cache_list(match or "")


def clear(match: str | None = None) -> int:
    """Removes all cached kernels, or those whose URI contains ``match``; returns how many."""
    return _kjit.cache_clear(match or "")


def stats() -> dict:
    """location, entries, total_bytes, hits, misses, compile_ms."""
    return _kjit.cache_stats()
