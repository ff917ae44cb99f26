"""A running Keycloak process: is it ours, how much memory it holds, stopping it.

A pid file in the instance folder names the process; it counts only while /proc shows a
live process started from that instance's home, so a reused pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kcctl.instance import Instance

__all__ = ["PID_FILE", "is_ours", "is_running", "rss_bytes", "stop"]

PID_FILE = "keycloak.pid"


def _read_pid(instance_dir: Path) -> int | None:
    try:
        return int((instance_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def is_ours(pid: int, home: Path) -> bool:
    """True if ``pid`` is alive and is a Keycloak started from ``home`` (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        if sys.platform.startswith("linux"):
            return False
        try:  # no /proc: trust the pid file
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return state != "Z" and str(home) in cmdline


def is_running(instance_dir: Path) -> int | None:
    """The pid of the Keycloak running in ``instance_dir``, or None."""
    instance_dir = Path(instance_dir).resolve()
    pid = _read_pid(instance_dir)
    if pid is not None and is_ours(pid, instance_dir / "home"):
        return pid
    return None


def _group_pids(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` (kc.sh and its java), from /proc."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def rss_bytes(instance: Instance) -> int | None:
    """Resident memory of the instance's processes (Linux only; None elsewhere)."""
    total = 0
    for pid in _group_pids(instance.pid) if Path("/proc").exists() else []:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            total += int(match.group(1)) * 1024
    return total or None


def _signal_group(pid: int, sig: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _gone(pid: int, home: Path) -> bool:
    # Reap it if it is our child, so it does not linger as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return not is_ours(pid, home)


def stop(instance_dir: Path, timeout: float = 30) -> bool:
    """Stop the instance (SIGTERM, then SIGKILL after ``timeout``); True if one was running.

    Idempotent: a missing or stale pid file is cleaned up and reported as not running.
    """
    instance_dir = Path(instance_dir).resolve()
    home = instance_dir / "home"
    pid = is_running(instance_dir)
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _gone(pid, home) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _gone(pid, home):
            _signal_group(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while not _gone(pid, home) and time.monotonic() < deadline:
                time.sleep(0.2)
    (instance_dir / PID_FILE).unlink(missing_ok=True)
    return pid is not None
