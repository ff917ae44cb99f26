"""The watchdog next to the apps: memory limits, restarts (:mod:`.restarts`) and scale to
zero (:mod:`.idle`).

An app past its memory limit is stopped and restarted, with the reason said. The kernel
does the stopping where the app runs in a cgroup (:mod:`.memlimit`): its OOM killer ends
the app's largest process, and this watchdog, seeing the cgroup's ``oom_kill`` count
grow, records it and restarts the whole app through supervisord. Where there is no
cgroup, the watchdog itself adds up the resident memory of the app's process tree
(gunicorn master and workers, inside the sandbox too) every second and restarts an app
over its limit.

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
from .memlimit import CGROUP_PREFIX, Cgroup, own_cgroup, program_cgroup
from .restarts import Restarts, check_restarts
from .statefile import read_json, update_json
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
        with update_json(self.limits_path) as limits:
            if megabytes is None:
                limits.pop(program, None)
            else:
                limits[program] = megabytes * 1024 * 1024

    def limits(self) -> dict[str, int]:
        return {k: int(v) for k, v in read_json(self.limits_path).items()}

    def record(self, program: str, rss: int, limit: int, *, oom_kills: int = 0) -> None:
        """An app restarted for its memory: ``rss`` bytes used (the cgroup's peak when the
        kernel stopped it, ``oom_kills`` its count then) against ``limit``."""
        with update_json(self.events_path) as events:
            events[program] = {
                "at": datetime.now(UTC).isoformat(),
                "rss": rss,
                "limit": limit,
                "by": "kernel" if oom_kills else "watchdog",
                "oom_kills": oom_kills,
            }

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


def _over_limit(
    program: str, pid: int, limit: int, cgroup: Cgroup | None, children: dict[int, list[int]]
) -> dict[str, int] | None:
    """What to record if ``program`` went past its limit since the last look, else None."""
    if cgroup is not None and cgroup.path.exists():
        kills = cgroup.oom_kills()
        return {"rss": cgroup.peak() or limit, "oom_kills": kills} if kills else None
    rss = tree_rss(pid, children)
    return {"rss": rss, "oom_kills": 0} if rss > limit else None


def check_once(
    supervisor: Supervisor,
    limits: MemoryLimits,
    parent: Cgroup | None = None,
    children: dict[int, list[int]] | None = None,
) -> list[str]:
    """Restart every app that went past its limit; returns the programs restarted."""
    restarted = []
    wanted = limits.limits()
    if children is None:
        children = process_children() if wanted else {}
    for program, limit in wanted.items():
        state = supervisor.state(program)
        if state.statename != "RUNNING" or not state.pid:
            continue
        cgroup = program_cgroup(program, parent) if parent else None
        found = _over_limit(program, state.pid, limit, cgroup, children)
        if found is None:
            continue
        previous = limits.last_event(program) or {}
        if found["oom_kills"] and found["oom_kills"] <= previous.get("oom_kills", 0):
            continue  # the kill already handled
        log.warning("%s went past its %d MB (%s): restarting", program, limit >> 20, found)
        limits.record(program, found["rss"], limit, oom_kills=found["oom_kills"])
        supervisor.restart(program)
        restarted.append(program)
    if parent is not None:
        _remove_unused_cgroups(parent, set(wanted))
    return restarted


def _remove_unused_cgroups(parent: Cgroup, programs: set[str]) -> None:
    """Delete the empty cgroups of apps that no longer have a limit (or no longer exist)."""
    try:
        folders = [p for p in parent.path.iterdir() if p.name.startswith(CGROUP_PREFIX)]
    except OSError:
        return
    for folder in folders:
        if folder.name.removeprefix(CGROUP_PREFIX) not in programs:
            Cgroup(folder, parent.version).remove()


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
    parent = own_cgroup()  # the apps' cgroups are next to ours (both under supervisord)
    restarts = Restarts(args.root)
    while True:
        try:
            children = process_children()
            check_restarts(supervisor, restarts, children)
            check_once(supervisor, limits, parent, children)
            check_idle(supervisor, idle)
        except Exception:  # supervisord restarting, a file half-written: try again
            log.exception("memory check failed")
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
