"""Operating a deployed app through the API, the real supervisor and the front door."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests

from tests.hosting_client import APPS, create_app, csrf_headers, deploy
from tests.live_stack import Stack
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

SLUG = "env-echo"


def _layout(session: requests.Session, base: str) -> requests.Response:
    return session.get(f"{base}/apps/{SLUG}/_dash-layout", timeout=30)


def _until(check, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not {what} after {seconds:.0f} s"
        time.sleep(0.3)


def _processes(stack: Stack) -> list[int]:
    marker = str(stack.apps_dir / "run" / SLUG)
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode(
                errors="replace"
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_environment_restart_stop_start_rollback_logs_and_delete(
    stack: Stack, portal_url: str
) -> None:
    alice = login(portal_url, "alice")
    headers = csrf_headers(alice, portal_url)
    api = f"{portal_url}/api/apps/{SLUG}"
    create_app(alice, portal_url, SLUG, "Env echo")
    first = deploy(alice, portal_url, SLUG, APPS / "env-echo")
    assert "GREETING=(unset)" in _layout(alice, portal_url).text

    put = alice.put(f"{api}/env/GREETING", json={"value": "hello there"}, headers=headers)
    assert put.status_code == 204
    names = alice.get(f"{api}/env", timeout=10).json()
    assert names["names"] == ["GREETING"] and "hello there" not in str(names)
    assert alice.post(f"{api}/restart", headers=headers, timeout=30).status_code == 202
    _until(lambda: "GREETING=hello there" in _layout(alice, portal_url).text, "restarted")

    logs = alice.get(f"{api}/logs?tail=50", timeout=10)
    assert logs.status_code == 200 and "env-echo starting" in logs.text
    started_line = next(line for line in logs.text.splitlines() if "env-echo starting" in line)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z env-echo starting", started_line)
    assert "hello there" not in logs.text

    manager = alice.get(f"{portal_url}/manager/apps/{SLUG}", timeout=10).text
    assert 'id="overview"' in manager and " MB</div>" in manager  # memory in use, measured
    assert "<code>GREETING</code>" in manager and "hello there" not in manager
    assert alice.post(f"{api}/stop", headers=headers, timeout=30).status_code == 202
    assert _layout(alice, portal_url).status_code == 503
    assert alice.post(f"{api}/start", headers=headers, timeout=30).status_code == 202
    _until(lambda: _layout(alice, portal_url).status_code == 200, "started")

    second = deploy(alice, portal_url, SLUG, APPS / "global-callback")
    assert "gc-title" in _layout(alice, portal_url).text
    rollback = alice.post(f"{api}/deployments/{first['id']}/activate", headers=headers, timeout=120)
    assert rollback.status_code == 200 and rollback.json()["status"] == "active"
    assert "GREETING=hello there" in _layout(alice, portal_url).text
    assert alice.get(f"{api}/deployments/{second['id']}", timeout=10).json()["status"] == (
        "inactive"
    )

    bob = login(portal_url, "bob")
    refused = bob.post(f"{api}/restart", headers=csrf_headers(bob, portal_url), timeout=10)
    assert refused.status_code == 403

    assert _processes(stack)
    assert alice.delete(api, headers=headers, timeout=60).status_code == 204
    assert alice.get(api, timeout=10).status_code == 404
    assert _layout(alice, portal_url).status_code == 404
    _until(lambda: not _processes(stack), "all its processes gone", seconds=20)
