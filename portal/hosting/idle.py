"""Scale to zero: an app with an idle timeout stops after that long without requests, and
the next request starts it again (as Posit Connect does).

The front door's portal marks each app's activity (:meth:`IdleTimeouts.touch`) when it
lets a request through; it sees every page load and, while anyone uses the app, at least
one request a second (its answers are cached for one). The watchdog of
:mod:`portal.hosting.memwatch` pauses an app whose last mark, and last start, are older
than its timeout. Waking it is the portal's job (``portal.deploys.operations.wake``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from .statefile import read_json, update_json
from .supervisor import Supervisor

__all__ = ["IDLE", "IdleTimeouts", "check_idle"]

log = logging.getLogger(__name__)

IDLE = "idle-timeouts.json"
ACTIVITY = ".activity"


class IdleTimeouts:
    """Timeouts by program (set by the runner) and each app's last activity (a file's mtime)."""

    def __init__(self, root: Path, run_dir: Path | None = None) -> None:
        self.path = root / IDLE
        self.activity = (run_dir or root) / ACTIVITY

    def set(self, program: str, slug: str, seconds: int | None) -> None:
        with update_json(self.path) as current:
            if seconds is None:
                current.pop(program, None)
            else:
                current[program] = {"slug": slug, "seconds": seconds}

    def timeouts(self) -> dict[str, dict]:
        return read_json(self.path)

    def touch(self, slug: str) -> None:
        """Mark ``slug`` as used now."""
        path = self.activity / slug
        try:
            os.utime(path)
        except FileNotFoundError:
            self.activity.mkdir(parents=True, exist_ok=True)
            path.touch()

    def last_used(self, slug: str) -> float:
        try:
            return (self.activity / slug).stat().st_mtime
        except OSError:
            return 0.0


def check_idle(supervisor: Supervisor, idle: IdleTimeouts, now: float | None = None) -> list[str]:
    """Pause every app idle for longer than its timeout; returns the programs paused."""
    now = time.time() if now is None else now
    paused = []
    for program, entry in idle.timeouts().items():
        state = supervisor.state(program)
        if state.statename != "RUNNING":
            continue
        last = max(idle.last_used(str(entry.get("slug"))), float(state.start))
        if now - last > float(entry.get("seconds", 0) or 0) > 0:
            log.info("%s idle for %.0f s: stopping it until the next request", program, now - last)
            supervisor.pause(program)
            paused.append(program)
    return paused
