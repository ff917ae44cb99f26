"""Counting restarts: a real gunicorn behind the runner's wrapper loses a worker, and the
count says so; planned stops and starts do not count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.hosting.memwatch import process_children
from portal.hosting.restarts import Restarts, gunicorn_processes

GUNICORN = Path(sys.executable).parent / "gunicorn"
WSGI = "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"


@pytest.fixture
def wrapped_gunicorn(tmp_path: Path) -> Iterator[subprocess.Popen]:
    """gunicorn with 2 workers, started as the runner starts an app: under logstamp."""
    (tmp_path / "tiny.py").write_text(WSGI)
    command = [str(GUNICORN), "--workers", "2", "--bind", f"unix:{tmp_path / 'g.sock'}"]
    command += ["--chdir", str(tmp_path), "--no-control-socket", "tiny:app"]
    wrapper = [sys.executable, "-m", "portal.hosting.logstamp", "--"]
    process = subprocess.Popen([*wrapper, *command], stdout=subprocess.DEVNULL)
    try:
        yield process
    finally:  # the wrapper ignores TERM (supervisord signals the group): stop gunicorn
        found = gunicorn_processes(process.pid, process_children())
        if found:
            os.kill(found[0], signal.SIGTERM)
        else:
            process.kill()
        process.wait(timeout=30)


def _wait_for_workers(pid: int, count: int, not_in: set[int] = frozenset()) -> tuple[int, set]:
    deadline = time.monotonic() + 30
    while True:
        found = gunicorn_processes(pid, process_children())
        if found and len(found[1]) == count and not (found[1] & not_in):
            return found
        assert time.monotonic() < deadline, f"gunicorn under {pid}: {found}"
        time.sleep(0.1)


def test_a_worker_replaced_under_the_same_master_is_one_restart(
    tmp_path: Path, wrapped_gunicorn: subprocess.Popen
) -> None:
    restarts = Restarts(tmp_path)
    restarts.watch("app-tiny-1")
    master, workers = _wait_for_workers(wrapped_gunicorn.pid, 2)
    assert master != wrapped_gunicorn.pid  # found under the wrapper, not the wrapper
    assert restarts.observe({"app-tiny-1": (master, workers)}) == {}
    assert restarts.of("app-tiny-1") == {"restarts": 0, "last_restart": None}

    victim = min(workers)
    os.kill(victim, signal.SIGKILL)  # what os._exit or the OOM killer does to a worker
    after = _wait_for_workers(wrapped_gunicorn.pid, 2, not_in={victim})
    assert after[0] == master
    assert restarts.observe({"app-tiny-1": after}) == {"app-tiny-1": 1}
    counted = restarts.of("app-tiny-1")
    assert counted["restarts"] == 1 and counted["last_restart"]


def test_a_new_master_counts_once_and_a_planned_stop_not_at_all(tmp_path: Path) -> None:
    restarts = Restarts(tmp_path)
    restarts.watch("app-x-1")
    restarts.watch("app-y-2")
    assert restarts.observe({"app-x-1": (100, {101, 102}), "app-y-2": None}) == {}
    assert restarts.observe({"app-x-1": (100, {101})}) == {"app-x-1": 1}  # a worker died
    assert restarts.observe({"app-x-1": (100, {101, 103})}) == {}  # ...and came back
    assert restarts.observe({"app-x-1": (200, {201, 202})}) == {"app-x-1": 1}  # a new master
    assert restarts.observe({"app-x-1": (0, set())}) == {}  # stopped on request (idle)
    assert restarts.observe({"app-x-1": (300, {301, 302})}) == {}  # woken: no restart
    assert restarts.of("app-x-1")["restarts"] == 2
    restarts.watch("app-x-1")  # an operator's restart starts the count again
    assert restarts.of("app-x-1")["restarts"] == 0
    restarts.forget("app-x-1")
    assert restarts.programs() == ["app-y-2"]


def test_the_runner_and_the_watchdog_never_lose_each_others_changes(tmp_path: Path) -> None:
    """Both rewrite one file: the lock keeps every program the runner adds and every count
    the watchdog writes, however their writes interleave."""
    import threading

    restarts = Restarts(tmp_path)
    restarts.watch("app-seen-1")

    def runner() -> None:
        for number in range(200):
            restarts.watch(f"app-new-{number}")

    def watchdog() -> None:
        for number in range(200):
            restarts.observe({"app-seen-1": (100, {101} if number % 2 else {102})})

    threads = [threading.Thread(target=runner), threading.Thread(target=watchdog)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(restarts.programs()) == 201
    assert restarts.of("app-seen-1")["restarts"] == 199  # every swap of its worker counted
