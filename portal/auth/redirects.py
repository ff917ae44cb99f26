"""Where a sign-in may send the browser back to: local paths only.

``/login?next=`` is the classic open redirect. A value is accepted only when it is
an absolute path on this site; everything else (absolute URLs, ``//host``,
``/\\host``, other schemes, control characters, encoded tricks) becomes ``/``.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["safe_next"]

_MAX_LENGTH = 2048


def _is_local_path(value: str) -> bool:
    if not value.startswith("/") or len(value) > _MAX_LENGTH:
        return False
    # Browsers treat "\" as "/" and drop tabs and newlines, turning "/\evil" or
    # "/\t/evil" into "//evil": refuse them, also when percent-encoded once or twice.
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        return False
    for candidate in (value, unquote(value), unquote(unquote(value))):
        if "\\" in candidate or any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate):
            return False
        if candidate.startswith("//"):
            return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def safe_next(value: str | None, *, default: str = "/") -> str:
    """Return ``value`` if it is a local path, else ``default``."""
    if value and _is_local_path(value):
        return value
    return default
