"""The memory watchdog's parts: limits and events on disk, and a process tree's memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from portal.hosting.memwatch import MemoryLimits, tree_rss


def test_limits_and_events_round_trip(tmp_path: Path) -> None:
    limits = MemoryLimits(tmp_path)
    limits.set("app-a-1", 256)
    limits.set("app-b-2", 64)
    limits.set("app-b-2", None)
    assert limits.limits() == {"app-a-1": 256 * 1024 * 1024}
    assert limits.last_event("app-a-1") is None
    limits.record("app-a-1", rss=300 << 20, limit=256 << 20)
    event = limits.last_event("app-a-1")
    assert event is not None and event["rss"] == 300 << 20 and event["at"]
    assert oct((tmp_path / "memory-limits.json").stat().st_mode & 0o777) == "0o600"


def test_a_tree_counts_its_children(tmp_path: Path) -> None:
    alone = tree_rss(os.getpid())
    child = subprocess.Popen(
        [sys.executable, "-c", "x = b'x' * (80 << 20); import time; time.sleep(30)"]
    )
    try:
        deadline = time.monotonic() + 10
        while tree_rss(os.getpid()) < alone + (70 << 20):
            assert time.monotonic() < deadline, "the child's memory was not counted"
            time.sleep(0.1)
    finally:
        child.kill()
        child.wait()
    assert tree_rss(999_999_999) == 0  # a process that does not exist holds nothing
