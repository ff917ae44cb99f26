"""The live platform for benchmarks: Keycloak and a LocalPlatform, plus /proc helpers.

Started as the test session starts them (tests/conftest.py): Keycloak through kcctl on free
ports with the project's realm pointed at the bench's front door, the platform by
:class:`portal.hosting.local.LocalPlatform` on a fresh data folder under /tmp (not a 0700
folder: app uids and nginx's workers must enter it). Everything is stopped on exit, also
when the bench fails or is interrupted.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kcctl
from portal.hosting.local import LocalPlatform
from portal.hosting.memwatch import process_children
from portal.hosting.restarts import gunicorn_processes
from tests.live_stack import free_port

Say = Callable[[str], None]


def say(message: str) -> None:
    """Print at once (the bench's progress lines)."""
    print(message, flush=True)


@dataclass
class BenchStack:
    """Where the bench's Keycloak and platform run."""

    platform: LocalPlatform
    keycloak: Any  # kcctl.Instance
    started_s: float

    @property
    def url(self) -> str:
        return self.platform.url


def _raise_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, handler)


@contextmanager
def platform_stack(env: dict[str, str], *, out: Say = say) -> Iterator[BenchStack]:
    """Keycloak plus one LocalPlatform with ``env``; both stopped when the block ends."""
    _raise_on_sigterm()
    front_port, http_port, management_port = free_port(), free_port(), free_port()
    keycloak_dir = Path(tempfile.mkdtemp(prefix="bench-keycloak-"))
    data_dir = Path(tempfile.mkdtemp(prefix="bench-platform-"))
    platform = LocalPlatform(data_dir=data_dir, listen=f"127.0.0.1:{front_port}", env=env)
    try:
        realm = kcctl.patch_realm(portal_url=platform.url)
        instance = kcctl.start(
            http_port=http_port,
            management_port=management_port,
            instance_dir=keycloak_dir,
            realm=realm,
        )
        out(f"keycloak: starting on {instance.base_url}")
        kcctl.wait_ready(instance, timeout=300)
        platform.env = {**env, "KEYCLOAK_URL": instance.base_url}
        started = time.monotonic()
        platform.start(say=out, timeout=1800)
        yield BenchStack(platform, instance, time.monotonic() - started)
    finally:
        out("stopping the platform and Keycloak")
        try:
            platform.stop()
        finally:
            kcctl.stop(keycloak_dir)
            shutil.rmtree(data_dir, ignore_errors=True)
            shutil.rmtree(keycloak_dir, ignore_errors=True)


# ------------------------------------------------------------------ processes (/proc)


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it (zombies left out)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if _stat(pid) is not None:
            found.append(pid)
            todo += children.get(pid, [])
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes ``pids`` have used so far."""
    ticks = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (after "pid (comm)")
    return ticks / os.sysconf("SC_CLK_TCK")


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid`` ([] if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` was started with (readable by root or its owner)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (part.decode().partition("=") for part in raw.split(b"\0") if part)
    return {key: value for key, _, value in pairs}


def memory_kb(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) summed over ``pids``, in kB; PSS shares shared pages fairly."""
    rss = pss = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+)", status, re.M)
        rss += int(found.group(1)) if found else 0
        found = re.search(r"^Pss:\s+(\d+)", rollup, re.M)
        pss += int(found.group(1)) if found else 0
    return rss, pss


def gunicorn_master(program_pid: int) -> int:
    """The gunicorn master below a supervisor program (under its bwrap/setpriv prefix)."""
    found = gunicorn_processes(program_pid, process_children())
    if found is None:
        raise RuntimeError(f"no gunicorn master below pid {program_pid}")
    return found[0]


def program_pids(platform: LocalPlatform) -> dict[str, int]:
    """supervisord's programs (app-<slug>-<deployment>) with a process, and their top pids."""
    programs = {}
    for conf in sorted((platform.supervisor.programs).glob("*.conf")):
        state = platform.supervisor.state(conf.stem)
        if state.statename in ("STARTING", "RUNNING") and state.pid:
            programs[conf.stem] = state.pid
    return programs


def pid_file(path: Path) -> int | None:
    """The pid in ``path`` when that process is alive."""
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid
