"""``python -m portal.hosting.launch <pid file> -- <command>``: start a server (nginx, the
portal's gunicorn) after stopping the workers its killed master left behind.

A master killed outright (SIGKILL, the OOM killer) leaves its workers running, still
holding the listener: nginx's new master could never bind it, gunicorn's would give up
after a few tries ("Connection in use"), and the old workers go on serving with a
configuration nobody can reload. supervisord runs the front door and the portal through
this launcher, which stops such workers (the process group of the master named in the
stale pid file, running the same program) and then becomes the server (exec), so
supervisord watches its master. :meth:`portal.hosting.local.LocalPlatform.stop` calls
:func:`stop_orphans` too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

__all__ = ["main", "stop_orphans"]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of ``pid``, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[2])


def _runs(pid: int, program: str) -> bool:
    """Whether ``pid``'s command line names ``program`` ("nginx: worker process",
    "<venv>/bin/python <venv>/bin/gunicorn ...")."""
    try:
        return program.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _orphans(master: int, program: str) -> list[int]:
    """``program``'s processes still in the process group of ``master``, which is gone."""
    stat = _stat(master)
    if stat is not None and stat[0] != "Z":
        return []  # the master runs: its workers are not orphans
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            pid = int(entry.name)
            stat = _stat(pid)
            if stat is not None and stat[1] == master and stat[0] != "Z" and _runs(pid, program):
                found.append(pid)
    return found


def stop_orphans(pid_path: Path, program: str = "nginx", timeout: float = 2) -> list[int]:
    """Stop the workers (running ``program``) of the dead master named in ``pid_path``;
    returns their pids."""
    try:
        master = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        return []
    orphans = _orphans(master, program)
    for sig in (signal.SIGTERM, signal.SIGKILL):  # TERM: nginx's fast shutdown
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _orphans(master, program) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _orphans(master, program):
            break
    return orphans


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m portal.hosting.launch PIDFILE -- COMMAND...", file=sys.stderr)
        return 2
    program = Path(args[2]).name  # nginx, gunicorn
    stopped = stop_orphans(Path(args[0]), program)
    if stopped:
        print(f"stopped workers left by a killed {program} master: {stopped}", file=sys.stderr)
        sys.stderr.flush()
    os.execv(args[2], args[2:])  # noqa: S606 - the server, as the platform names it
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
