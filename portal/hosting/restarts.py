"""How often an app's processes were replaced: the Overview's "restarts".

supervisord restarts an app whose gunicorn exits, and gunicorn replaces a worker that dies
(a crash, ``os._exit``, the kernel's OOM killer, a timeout) without supervisord knowing.
The watchdog (:mod:`.memwatch`) looks every second at each app's gunicorn master and its
workers and counts both: a new master (supervisord started the app again after it exited,
or the watchdog restarted it for its memory) and each worker gone while its master stayed.
A start asked for (deploy, an operator's start or restart, a wake from idle) is not one.

The runner registers each program it starts (:meth:`Restarts.watch`); the counts live in
``<supervisor>/restarts.json`` (program → {"master", "workers", "restarts", "last"}).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .statefile import read_json, update_json
from .supervisor import Supervisor

__all__ = ["RESTARTS", "Restarts", "check_restarts", "gunicorn_processes"]

RESTARTS = "restarts.json"


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _is_gunicorn(argv: list[str]) -> bool:
    # `<venv>/bin/python <venv>/bin/gunicorn ...` (a script), or the script run directly.
    return any(arg.endswith("/gunicorn") for arg in argv[:2])


def gunicorn_processes(pid: int, children: dict[int, list[int]]) -> tuple[int, set[int]] | None:
    """The gunicorn master at or under ``pid`` (the program's wrappers come first) and
    its workers; None when no gunicorn runs there yet."""
    todo = [pid]
    while todo:
        current = todo.pop(0)
        if _is_gunicorn(_argv(current)):
            return current, set(children.get(current, ()))
        todo.extend(children.get(current, ()))
    return None


class Restarts:
    """The programs to watch and what was seen of them, in one file."""

    def __init__(self, root: Path) -> None:
        self.path = root / RESTARTS

    def watch(self, program: str) -> None:
        """Count ``program``'s restarts from now (a new version starts at zero)."""
        with update_json(self.path) as records:
            records[program] = {"master": 0, "workers": [], "restarts": 0, "last": None}

    def forget(self, program: str) -> None:
        with update_json(self.path) as records:
            records.pop(program, None)

    def programs(self) -> list[str]:
        return list(read_json(self.path))

    def of(self, program: str) -> dict[str, Any]:
        """``{"restarts": n, "last_restart": iso time or None}`` for ``program``."""
        record = read_json(self.path).get(program) or {}
        return {"restarts": int(record.get("restarts", 0)), "last_restart": record.get("last")}

    def observe(self, seen: dict[str, tuple[int, set[int]] | None]) -> dict[str, int]:
        """Update the counts from one look at each program's (master, workers), master 0
        for one stopped on request; returns the programs that restarted since the last
        look, with how many times."""
        changed: dict[str, int] = {}
        if not seen:
            return changed
        with update_json(self.path) as records:
            self._observe(records, seen, changed)
        return changed

    @staticmethod
    def _observe(
        records: dict[str, Any],
        seen: dict[str, tuple[int, set[int]] | None],
        changed: dict[str, int],
    ) -> None:
        for program, processes in seen.items():
            record = records.get(program)
            if record is None or processes is None:
                continue
            master, workers = processes
            if not master:  # stopped on request (idle, an operator): its next start is none
                record["master"], record["workers"] = 0, []
                continue
            before_master, before_workers = record["master"], set(record["workers"])
            if before_master and master != before_master:
                count = 1  # a new master: the whole app started again
            else:
                count = len(before_workers - workers)  # workers gone, master stayed
            if count:
                record["restarts"] += count
                record["last"] = datetime.now(UTC).isoformat()
                changed[program] = count
            record["master"], record["workers"] = master, sorted(workers)


def check_restarts(
    supervisor: Supervisor, restarts: Restarts, children: dict[int, list[int]]
) -> dict[str, int]:
    """One look at every watched program that runs (not one stopping: its workers leave)."""
    seen: dict[str, tuple[int, set[int]] | None] = {}
    for program in restarts.programs():
        state = supervisor.state(program)
        if state.statename in ("STARTING", "RUNNING") and state.pid:
            seen[program] = gunicorn_processes(state.pid, children)
        elif state.statename == "STOPPED":
            seen[program] = (0, set())
    return restarts.observe(seen)
