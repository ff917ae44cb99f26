"""Small JSON state files the runner, the watchdog and the portal share (0600, atomic)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["read_json", "write_json"]


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
