"""``python -m portal.hosting.nginx_launch <pid file> -- <nginx command>``: start nginx
after stopping the workers a killed master left behind.

An nginx master killed outright (SIGKILL, the OOM killer) leaves its workers running,
still holding the listener: a new master could never bind it, and the old workers go on
serving with a configuration nobody can reload. supervisord runs the front door through
this launcher, which stops such workers (the process group of the master named in the
stale pid file) and then becomes nginx (exec), so supervisord watches nginx's master.
:meth:`portal.hosting.local.LocalPlatform.stop` calls :func:`stop_orphans` too.
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


def _is_nginx(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"nginx: ")
    except OSError:
        return False


def _orphans(master: int) -> list[int]:
    """nginx processes still in the process group of ``master``, which is gone."""
    stat = _stat(master)
    if stat is not None and stat[0] != "Z":
        return []  # the master runs: its workers are not orphans
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            pid = int(entry.name)
            stat = _stat(pid)
            if stat is not None and stat[1] == master and stat[0] != "Z" and _is_nginx(pid):
                found.append(pid)
    return found


def stop_orphans(pid_path: Path, timeout: float = 2) -> list[int]:
    """Stop the workers of the dead master named in ``pid_path``; returns their pids."""
    try:
        master = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        return []
    orphans = _orphans(master)
    for sig in (signal.SIGTERM, signal.SIGKILL):  # TERM: nginx's fast shutdown
        for pid in orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _orphans(master) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _orphans(master):
            break
    return orphans


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        print("usage: python -m portal.hosting.nginx_launch PIDFILE -- NGINX...", file=sys.stderr)
        return 2
    stopped = stop_orphans(Path(args[0]))
    if stopped:
        print(f"stopped workers left by a killed nginx master: {stopped}", file=sys.stderr)
        sys.stderr.flush()
    os.execv(args[2], args[2:])  # noqa: S606 - nginx, as the front door names it
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
