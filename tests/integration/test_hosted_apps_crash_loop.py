"""An app that keeps dying right after each restart is reported as a crash loop."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from tests.hosting_client import APPS, create_app, deploy
from tests.live_stack import Stack
from tests.oidc_flow import login

pytestmark = pytest.mark.integration


def _processes_on(socket_path: str) -> list[int]:
    """Pids whose command line names the socket (the app's gunicorn master and workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "gunicorn" in command and socket_path in command:
            found.append(int(entry.name))
    return found


def _process(session: requests.Session, base: str, slug: str, deployment_id: int) -> dict:
    answer = session.get(f"{base}/api/apps/{slug}/deployments/{deployment_id}", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json().get("process") or {}


def test_a_crash_loop_is_reported_and_other_apps_keep_answering(
    stack: Stack, portal_url: str
) -> None:
    alice = login(portal_url, "alice")
    slug = "flaky-start"
    create_app(alice, portal_url, slug, "Flaky start")
    deployment = deploy(alice, portal_url, slug, APPS / "flaky-start")
    assert deployment["status"] == "active"
    deadline = time.monotonic() + 15  # supervisord says RUNNING once it stayed up 3 s
    while (running := _process(alice, portal_url, slug, deployment["id"]))["state"] != "RUNNING":
        assert running["state"] == "STARTING" and time.monotonic() < deadline, running
        time.sleep(0.5)
    assert running["crash_loop"] is False
    (stack.apps_dir / "data" / slug / "crash-on-start").write_text("1")
    socket_path = str(stack.apps_dir / "run" / slug / f"{deployment['id']}.sock")
    victims = _processes_on(socket_path)
    assert victims, "the app's gunicorn is not running"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 90
    while not _process(alice, portal_url, slug, deployment["id"]).get("crash_loop"):
        assert time.monotonic() < deadline, "no crash loop reported after 90 s"
        assert alice.get(f"{portal_url}/apps/hello/_dash-layout", timeout=10).status_code == 200
        time.sleep(1)
    assert _process(alice, portal_url, slug, deployment["id"])["state"] == "FATAL"
    # The front door says plainly that the app is not running; the platform keeps serving.
    down = alice.get(f"{portal_url}/apps/{slug}/_dash-layout", timeout=10)
    assert down.status_code == 503
    assert alice.get(f"{portal_url}/apps/hello/_dash-layout", timeout=10).status_code == 200
    manager = alice.get(f"{portal_url}/manager/apps/{slug}", timeout=10)
    assert "Crash loop" in manager.text
