"""Data files read once and again only when they change (mtime or size): rules, alert policy."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_cache: dict[tuple[str, Path], tuple[tuple, object]] = {}


def load_if_changed(kind: str, path: Path, load: Callable[[Path], T]) -> T:
    """Return ``load(path)``, cached per process until the file's mtime or size changes."""
    path = path.resolve()
    status = path.stat()
    stamp = (status.st_mtime_ns, status.st_size)
    cached = _cache.get((kind, path))
    if cached is not None and cached[0] == stamp:
        return cached[1]  # type: ignore[return-value]
    with _lock:
        value = load(path)
        _cache[(kind, path)] = (stamp, value)
    return value
