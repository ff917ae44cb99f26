"""The watchdog next to the apps: memory limits, and scale to zero (:mod:`.idle`).

Where the platform cannot write cgroups (cgroup v1 hosts, most containers, laptops), a
kernel limit would only make the app's allocations fail inside it; the issue asks that an
app past its limit be stopped and restarted, with the reason said. This watchdog runs as
one supervisord program next to the apps: every second it adds up the resident memory of
each limited app's process tree (gunicorn master and workers, inside the sandbox too),
and restarts an app over its limit through supervisord, recording when and how much.

The limits live in ``<supervisor>/memory-limits.json`` (program → bytes), written by the
runner; what happened lives in ``<supervisor>/memory-events.json`` (program → event).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .idle import IdleTimeouts, check_idle
from .statefile import read_json, write_json
from .supervisor import Supervisor

__all__ = ["EVENTS", "LIMITS", "MemoryLimits", "main", "process_children", "tree_rss"]

log = logging.getLogger(__name__)

LIMITS = "memory-limits.json"
EVENTS = "memory-events.json"
WATCHDOG = "platform-memwatch"
_PAGE = os.sysconf("SC_PAGE_SIZE")


class MemoryLimits:
    """The limits the runner sets and the events the watchdog records, in one folder."""

    def __init__(self, root: Path) -> None:
        self.limits_path, self.events_path = root / LIMITS, root / EVENTS

    def set(self, program: str, megabytes: int | None) -> None:
        limits = read_json(self.limits_path)
        if megabytes is None:
            limits.pop(program, None)
        else:
            limits[program] = megabytes * 1024 * 1024
        write_json(self.limits_path, limits)

    def limits(self) -> dict[str, int]:
        return {k: int(v) for k, v in read_json(self.limits_path).items()}

    def record(self, program: str, rss: int, limit: int) -> None:
        events = read_json(self.events_path)
        events[program] = {"at": datetime.now(UTC).isoformat(), "rss": rss, "limit": limit}
        write_json(self.events_path, events)

    def last_event(self, program: str) -> dict[str, Any] | None:
        event = read_json(self.events_path).get(program)
        return event if isinstance(event, dict) else None


def process_children() -> dict[int, list[int]]:
    """Every process's children, from /proc (one pass)."""
    found: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found.setdefault(parent, []).append(int(entry.name))
    return found


def tree_rss(pid: int, children: dict[int, list[int]] | None = None) -> int:
    """Resident bytes of ``pid`` and all its descendants."""
    children = children if children is not None else process_children()
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as handle:
                total += int(handle.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue
        todo.extend(children.get(current, ()))
    return total


def check_once(supervisor: Supervisor, limits: MemoryLimits) -> list[str]:
    """Restart every app over its limit; returns the programs restarted."""
    restarted = []
    wanted = limits.limits()
    children = process_children() if wanted else {}
    for program, limit in wanted.items():
        state = supervisor.state(program)
        if state.statename != "RUNNING" or not state.pid:
            continue
        rss = tree_rss(state.pid, children)
        if rss > limit:
            log.warning(
                "%s uses %d MB, over its %d MB: restarting", program, rss >> 20, limit >> 20
            )
            limits.record(program, rss, limit)
            supervisor.restart(program)
            restarted.append(program)
    return restarted


def main(argv: list[str] | None = None) -> None:
    """``python -m portal.hosting.memwatch <supervisor folder>``: run until stopped."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--run", type=Path, help="the apps' run folder (activity marks)")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    supervisor, limits = Supervisor(args.root), MemoryLimits(args.root)
    idle = IdleTimeouts(args.root, args.run)
    while True:
        try:
            check_once(supervisor, limits)
            check_idle(supervisor, idle)
        except Exception:  # supervisord restarting, a file half-written: try again
            log.exception("memory check failed")
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
