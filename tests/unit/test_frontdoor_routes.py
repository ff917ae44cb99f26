"""The per-app upstreams the portal keeps for the front door, and nginx's acceptance of them."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from portal.hosting.frontdoor import ROUTES, FrontDoor, Routes, find_nginx


def test_publish_writes_one_upstream_per_app_and_signals_nginx(tmp_path: Path) -> None:
    pid_file = tmp_path / "nginx.pid"
    got: list[int] = []
    previous = signal.getsignal(signal.SIGHUP)
    signal.signal(signal.SIGHUP, lambda *_: got.append(1))
    try:
        pid_file.write_text(str(os.getpid()))  # "nginx" is this process: it counts SIGHUPs
        routes = Routes(tmp_path / "run", pid_file)
        routes.publish("sales")
        conf = (tmp_path / "run" / ROUTES / "sales.conf").read_text()
        assert "upstream app_sales {" in conf
        assert f"server unix:{tmp_path / 'run' / 'sales' / 'app.sock'} max_fails=0;" in conf
        assert "keepalive" in conf
        deadline = time.monotonic() + 2
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got, "nginx was not told to re-read its routes"
        routes.withdraw("sales")
        assert not (tmp_path / "run" / ROUTES / "sales.conf").exists()
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_without_a_pid_file_publishing_still_writes_the_route(tmp_path: Path) -> None:
    Routes(tmp_path / "run").publish("hello")
    assert (tmp_path / "run" / ROUTES / "hello.conf").exists()


def test_nginx_accepts_the_configuration_with_routes(tmp_path: Path) -> None:
    door = FrontDoor(
        root=tmp_path / "frontdoor",
        listen="127.0.0.1:1",
        portal_servers=(f"unix:{tmp_path / 'portal.sock'}",),
        apps_run_dir=tmp_path / "run",
    )
    door.write_config()
    Routes(door.apps_run_dir).publish("my-app_2")
    nginx = find_nginx()
    assert nginx is not None, "make test installs nginx (the front door)"
    checked = subprocess.run(
        [nginx, "-t", "-p", str(door.root), "-c", str(door.config_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "proxy_pass http://app_$app_slug;" in door.config_path.read_text()


def test_a_new_route_is_in_force_when_publish_returns(tmp_path: Path) -> None:
    import socket

    from portal.hosting.frontdoor import _children_of

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    door = FrontDoor(
        root=tmp_path / "frontdoor",
        listen=f"127.0.0.1:{port}",
        portal_servers=(f"unix:{tmp_path / 'portal.sock'}",),
        apps_run_dir=tmp_path / "run",
    )
    door.check()
    # In the foreground, as its supervisor runs it: it still writes the pid file.
    nginx = subprocess.Popen(door.command(), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 5
        while door.pid() != nginx.pid and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = door.pid()
        assert pid == nginx.pid
        while not _children_of(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        before = _children_of(pid)
        Routes(door.apps_run_dir, door.pid_path).publish("fresh")
        # Workers started after the route was written are already running.
        assert _children_of(pid) - before
    finally:
        door.stop()
        nginx.wait(timeout=10)
