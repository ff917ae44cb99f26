"""The kernel's side of an app's memory limit: a real cgroup where this host has one, an rlimit
otherwise, and the watchdog's reading of what the kernel did."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from portal.hosting.memlimit import Cgroup, enforcement, own_cgroup, program_cgroup
from portal.hosting.memwatch import MemoryLimits, check_once
from portal.hosting.supervisor import ProgramState

ALLOCATE = "x = bytearray({mb} << 20); print('held', len(x) >> 20)"
HOST_CGROUP = own_cgroup()
needs_cgroup = pytest.mark.skipif(
    HOST_CGROUP is None, reason="needs a writable memory cgroup (root on a cgroup host)"
)


def _run_limited(program: str, limit_mb: int, allocate_mb: int) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", ALLOCATE.format(mb=allocate_mb)]
    wrapper = [sys.executable, "-m", "portal.hosting.memlimit", "--program", program]
    limit = ["--limit-bytes", str(limit_mb << 20), "--"]
    return subprocess.run([*wrapper, *limit, *command], capture_output=True, text=True)


@needs_cgroup
def test_past_its_cgroup_limit_a_process_is_killed_by_the_kernel_and_counted() -> None:
    program = f"test-{uuid.uuid4().hex[:8]}"
    cgroup = program_cgroup(program)
    assert cgroup is not None
    try:
        within = _run_limited(program, 64, 16)
        assert within.returncode == 0 and "held 16" in within.stdout
        assert f"(cgroup v{cgroup.version})" in within.stderr
        assert cgroup.oom_kills() == 0

        past = _run_limited(program, 64, 256)
        assert past.returncode == -9, past  # SIGKILL from the OOM killer, not a MemoryError
        assert cgroup.oom_kills() == 1
        assert (cgroup.peak() or 0) <= 64 << 20
    finally:
        cgroup.remove()
    assert not cgroup.path.exists()


def test_without_a_cgroup_an_rlimit_makes_big_allocations_fail() -> None:
    script = (
        "from portal.hosting.memlimit import set_rlimit\n"
        "set_rlimit(200 << 20)\n"
        "small = bytearray(20 << 20)\n"
        "try:\n    bytearray(400 << 20)\nexcept MemoryError:\n    print('refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "refused", done.stderr


def test_own_cgroup_reads_v1_and_v2_hierarchies(tmp_path: Path) -> None:
    v1 = tmp_path / "v1"
    (v1 / "memory" / "box").mkdir(parents=True)
    (v1 / "memory" / "box" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    proc = tmp_path / "cgroup-v1"
    proc.write_text("5:devices:/\n4:memory:/box\n0::/\n")
    assert own_cgroup(v1, proc) == Cgroup(v1 / "memory" / "box", 1)

    v2 = tmp_path / "v2"
    (v2 / "svc").mkdir(parents=True)
    (v2 / "cgroup.controllers").write_text("cpu io memory pids\n")
    (v2 / "svc" / "cgroup.subtree_control").write_text("cpu pids\n")
    proc.write_text("0::/svc\n")
    assert own_cgroup(v2, proc) is None  # memory is not handed down to children
    (v2 / "svc" / "cgroup.subtree_control").write_text("cpu memory pids\n")
    assert own_cgroup(v2, proc) == Cgroup(v2 / "svc", 2)
    assert "cgroup v2" in enforcement(Cgroup(v2 / "svc", 2))
    assert own_cgroup(v2, tmp_path / "missing") is None


def test_a_v2_cgroup_gets_its_limit_no_swap_and_reports_kills(tmp_path: Path) -> None:
    cgroup = Cgroup(tmp_path / "dash-app-x", 2)
    cgroup.create(128 << 20)
    assert (cgroup.path / "memory.max").read_text() == str(128 << 20)
    assert (cgroup.path / "memory.swap.max").read_text() == "0"
    (cgroup.path / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n")
    assert cgroup.oom_kills() == 2


class _Supervisor:
    """supervisord's answers for one running program, and the restarts asked of it."""

    def __init__(self) -> None:
        self.restarted: list[str] = []

    def state(self, name: str) -> ProgramState:
        return ProgramState(name, "RUNNING", pid=1)

    def restart(self, name: str) -> None:
        self.restarted.append(name)


def test_the_watchdog_restarts_an_app_the_kernel_killed_once_per_kill(tmp_path: Path) -> None:
    parent = Cgroup(tmp_path / "parent", 1)
    parent.path.mkdir()
    limits = MemoryLimits(tmp_path)
    limits.set("app-hog-1", 64)
    supervisor = _Supervisor()
    cgroup = program_cgroup("app-hog-1", parent)
    assert cgroup is not None
    cgroup.path.mkdir()
    (cgroup.path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    (parent.path / "dash-app-gone-2").mkdir()  # an app without a limit any more

    assert check_once(supervisor, limits, parent) == []  # type: ignore[arg-type]
    assert not (parent.path / "dash-app-gone-2").exists()
    (cgroup.path / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert check_once(supervisor, limits, parent) == ["app-hog-1"]  # type: ignore[arg-type]
    event = limits.last_event("app-hog-1")
    assert event is not None and event["by"] == "kernel" and event["limit"] == 64 << 20
    assert check_once(supervisor, limits, parent) == []  # type: ignore[arg-type]
    assert supervisor.restarted == ["app-hog-1"]
