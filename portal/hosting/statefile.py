"""Small JSON state files the runner, the watchdog and the portal share (0600, atomic).

Several processes change one file (the portal's runner adds an app while the watchdog
records what it saw): :func:`update_json` holds an exclusive lock for the whole
read-change-write, so neither loses the other's change.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["read_json", "update_json", "write_json"]


def read_json(path: Path) -> dict[str, Any]:
    """The object in ``path``; empty when the file is missing or not a JSON object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Replace ``path`` with ``value`` at once, readable by its owner only."""
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(json.dumps(value, sort_keys=True))
    staged.chmod(0o600)
    os.replace(staged, path)


@contextmanager
def update_json(path: Path) -> Iterator[dict[str, Any]]:
    """The object in ``path`` to change in place; written back when the block ends, all
    under an exclusive lock on ``.<name>.lock`` next to it (not if the block raises)."""
    lock = path.with_name(f".{path.name}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        value = read_json(path)
        yield value
        write_json(path, value)
    finally:
        os.close(fd)  # releases the lock
