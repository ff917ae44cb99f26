"""The kernel's side of an app's memory limit: a cgroup where one can be written, an rlimit
otherwise.

``python -m portal.hosting.memlimit --program NAME --limit-bytes N -- COMMAND...`` runs
in an app's command before its isolation (as root, which drops privileges). It creates
the cgroup ``dash-app-NAME`` next to its own (supervisord's), writes the limit and swap
off, moves itself in and execs COMMAND, so every process of the app is charged there. A
cgroup v2 host uses ``memory.max``; a cgroup v1 host with a writable memory hierarchy
(this machine's kind, and Docker with cgroupfs) uses ``memory.limit_in_bytes``. Past the
limit, the kernel's OOM killer ends the largest process of the app; the watchdog
(:mod:`.memwatch`) sees ``oom_kill`` grow, records it and restarts the whole app.

Where no cgroup can be written (a laptop, an unprivileged container), each process gets
``RLIMIT_DATA`` at the limit, so one runaway allocation fails inside the app instead of
taking the machine; the watchdog's sum of the app's resident memory enforces the total.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CGROUP_PREFIX", "Cgroup", "enforcement", "main", "own_cgroup", "program_cgroup"]

CGROUP_PREFIX = "dash-app-"
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Cgroup:
    """One memory cgroup: its folder and the hierarchy's version (1 or 2)."""

    path: Path
    version: int

    @property
    def _limit_file(self) -> str:
        return "memory.max" if self.version == 2 else "memory.limit_in_bytes"

    def create(self, limit_bytes: int) -> None:
        """Make the cgroup (if new) with ``limit_bytes`` of memory and no swap."""
        self.path.mkdir(exist_ok=True)
        (self.path / self._limit_file).write_text(str(limit_bytes))
        # Without this, a limited app swaps instead of being stopped (where swap exists).
        swap = ("memory.swap.max", "0") if self.version == 2 else ("memory.swappiness", "0")
        with contextlib.suppress(OSError):  # no swap accounting here: nothing to turn off
            (self.path / swap[0]).write_text(swap[1])

    def join(self, pid: int = 0) -> None:
        """Move ``pid`` (default: this process) into the cgroup; its children follow."""
        (self.path / "cgroup.procs").write_text(str(pid or os.getpid()))

    def oom_kills(self) -> int:
        """How many of its processes the kernel killed for memory (0 if unknown)."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            lines = (self.path / name).read_text().splitlines()
        except OSError:
            return 0
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def peak(self) -> int | None:
        """The most bytes ever charged to the cgroup (None where the kernel does not say)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self.path / name).read_text())
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        """Delete the cgroup once no process is left in it (a no-op otherwise)."""
        with contextlib.suppress(OSError):
            self.path.rmdir()


def own_cgroup(root: Path = CGROUP_ROOT, proc_cgroup: Path | None = None) -> Cgroup | None:
    """The memory cgroup this process is in, if its folder may be written; else None."""
    proc_cgroup = proc_cgroup or Path("/proc/self/cgroup")
    try:
        entries = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    for entry in entries:
        _, controllers, path = entry.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "" and (root / "cgroup.controllers").exists():
            folder = root / relative
            # v2: a child gets a memory controller only if this cgroup hands it down.
            handed_down = _words(folder / "cgroup.subtree_control")
            if "memory" in handed_down and os.access(folder, os.W_OK):
                return Cgroup(folder, 2)
        elif "memory" in controllers.split(","):
            folder = root / "memory" / relative
            if (folder / "memory.limit_in_bytes").exists() and os.access(folder, os.W_OK):
                return Cgroup(folder, 1)
    return None


def _words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def program_cgroup(program: str, parent: Cgroup | None = None) -> Cgroup | None:
    """The cgroup of supervisord program ``program`` (next to the caller's own), if any."""
    parent = parent or own_cgroup()
    if parent is None:
        return None
    return Cgroup(parent.path / f"{CGROUP_PREFIX}{program}", parent.version)


def enforcement(parent: Cgroup | None = None) -> str:
    """How memory limits are enforced here, in words for the Admin section."""
    parent = parent or own_cgroup()
    if parent is None:
        return "rlimit per process and the watchdog's total (no writable cgroup here)"
    return f"kernel cgroup v{parent.version} (memory and swap)"


def set_rlimit(limit_bytes: int) -> None:
    """Cap this process's (and its children's) private writable memory at ``limit_bytes``.

    RLIMIT_DATA, not RLIMIT_AS: address space reserved but unused (glibc's per-thread
    arenas, numpy's) would count against RLIMIT_AS and stop a healthy app.
    """
    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, limit_bytes))


def limit_process(program: str, limit_bytes: int) -> str:
    """Put this process (and what it will exec) under the limit; returns how."""
    cgroup = program_cgroup(program)
    if cgroup is not None:
        try:
            cgroup.create(limit_bytes)
            cgroup.join()
            return f"cgroup v{cgroup.version}"
        except OSError:
            pass  # e.g. a controller not delegated after all: fall back below
    set_rlimit(limit_bytes)
    return "rlimit"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run COMMAND under a memory limit.")
    parser.add_argument("--program", required=True)
    parser.add_argument("--limit-bytes", type=int, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no COMMAND given")
    how = limit_process(args.program, args.limit_bytes)
    print(f"memory limit {args.limit_bytes >> 20} MB ({how})", file=sys.stderr, flush=True)
    os.execvp(command[0], command)  # noqa: S606 - the app's own argv, as the runner built it


if __name__ == "__main__":
    main()
