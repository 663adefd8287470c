"""Where the app may send a browser back to: a path on this site, never another one.

Sign-in's ``next``, the language switch's ``next`` and the links inside notices all take a
target from the request. Browsers drop tab, CR and LF from URLs (``/\\t/evil.example`` becomes
``//evil.example``) and read ``\\`` as ``/``, so those are refused before the URL is parsed.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def is_local_path(target) -> bool:
    """Tell whether ``target`` is a path on this site (never another site or a script URL)."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ch.isspace() or not ch.isprintable() for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def local_path_or(target, default: str) -> str:
    """Return ``target`` if it is a path on this site, else ``default``."""
    return target if is_local_path(target) else default
