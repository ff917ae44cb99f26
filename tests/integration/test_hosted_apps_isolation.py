"""A hosted app cannot hurt the platform or other apps: not by crashing, not by reading.

crashy's callback calls ``os._exit(1)``; snoop's callback tries to read the platform's
secret key and database, another app's bundle, and reports the names in its environment
and the cookies and headers its request carried.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.hosting_client import callback_body, deploy_app, outputs_of
from tests.live_stack import Stack
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

REFUSED = ("denied", "missing")
PLATFORM_PREFIXES = ("PORTAL_", "KEYCLOAK_")
PLATFORM_NAMES = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}


@pytest.fixture(scope="module")
def alice(portal_url: str) -> requests.Session:
    return login(portal_url, "alice")


@pytest.fixture(scope="module")
def crashy(alice: requests.Session, portal_url: str) -> dict[str, Any]:
    return deploy_app(alice, portal_url, "crashy", "crashy")


@pytest.fixture(scope="module")
def snoop(alice: requests.Session, portal_url: str) -> dict[str, Any]:
    return deploy_app(alice, portal_url, "snoop", "snoop")


def _echo(session: requests.Session, url: str, value: str) -> requests.Response:
    body = callback_body("crash-echo", "children", [("crash-input", "value", value)])
    return session.post(f"{url}/_dash-update-component", json=body, timeout=10)


def test_a_crashing_app_comes_back_and_others_never_notice(
    alice: requests.Session, portal_url: str, crashy: dict[str, Any], snoop: dict[str, Any]
) -> None:
    url, other = f"{portal_url}/apps/crashy", f"{portal_url}/apps/snoop/_dash-layout"
    assert outputs_of(_echo(alice, url, "before"))["crash-echo"]["children"].startswith(
        "still alive: before"
    )
    bystander = login(portal_url, "alice")  # its own session, used from its own thread
    statuses: list[int | str] = []
    stop = threading.Event()

    def hammer() -> None:
        with bystander:
            while not stop.is_set() and len(statuses) < 500:
                try:
                    statuses.append(bystander.get(other, timeout=10).status_code)
                except requests.RequestException as error:
                    statuses.append(type(error).__name__)
                time.sleep(0.05)

    thread = threading.Thread(target=hammer, daemon=True)
    thread.start()
    try:
        crash = callback_body("crash-status", "children", [("crash-button", "n_clicks", 1)])
        try:
            answer = alice.post(f"{url}/_dash-update-component", json=crash, timeout=30)
            assert answer.status_code != 200, "os._exit(1) answered 200"
        except requests.RequestException:
            pass  # the connection may simply drop
        deadline, recovered = time.monotonic() + 15, False
        while not recovered and time.monotonic() < deadline:
            try:
                recovered = _echo(alice, url, "after").status_code == 200
            except requests.RequestException:
                time.sleep(0.2)
        assert recovered, "crashy did not answer again within 15 s"
        assert outputs_of(_echo(alice, url, "again"))["crash-echo"]["children"].startswith(
            "still alive: again"
        )
        time.sleep(1)
    finally:
        stop.set()
        thread.join(timeout=15)
    assert len(statuses) >= 5, statuses
    assert set(statuses) == {200}, statuses
    # The Overview counts the worker gunicorn replaced (the watchdog looks every second).
    status_url = f"{portal_url}/api/apps/crashy/deployments/{crashy['id']}"
    deadline = time.monotonic() + 15
    while (process := alice.get(status_url, timeout=10).json()["process"])["restarts"] < 1:
        assert time.monotonic() < deadline, f"the restart was not counted: {process}"
        time.sleep(0.5)
    assert process["restarts"] == 1 and process["last_restart"], process
    assert (
        '<div class="value">1</div><div class="label">restarts'
        in alice.get(f"{portal_url}/manager/apps/crashy", timeout=10).text
    )


def _snoop(session: requests.Session, url: str, targets: dict[str, str]) -> dict[str, Any]:
    state = [
        (f"snoop-{name}", "value", targets[name]) for name in ("secret", "db", "other", "listing")
    ]
    body = callback_body("snoop-report", "children", [("snoop-button", "n_clicks", 1)], state=state)
    answer = session.post(f"{url}/_dash-update-component", json=body, timeout=30)
    return json.loads(outputs_of(answer)["snoop-report"]["children"])


def _must_exist(path: Path) -> str:
    assert path.exists(), f"{path} does not exist on the host: the test's premise is wrong"
    return str(path)


def test_an_app_cannot_read_the_platform_or_other_apps(
    alice: requests.Session,
    portal_url: str,
    stack: Stack,
    crashy: dict[str, Any],
    snoop: dict[str, Any],
) -> None:
    other_bundle = stack.apps_dir / "bundles" / "crashy"
    targets = {
        "secret": _must_exist(stack.data_dir / "secret_key"),
        "db": _must_exist(stack.data_dir / "portal.db"),
        "other": _must_exist(other_bundle / str(crashy["id"]) / "app.py"),
        "listing": _must_exist(other_bundle),
    }
    report = _snoop(alice, f"{portal_url}/apps/snoop", targets)
    for name in targets:
        assert report[name] in REFUSED, f"snoop read {name} ({targets[name]}): {report[name]!r}"
    # The app's own working directory is its bundle, which it may read.
    own = _snoop(alice, f"{portal_url}/apps/snoop", dict.fromkeys(targets, "app.py"))
    assert own["secret"].startswith('"""A nosy app'), own["secret"]
    leaked = [
        name
        for name in report["environ"]
        if name.startswith(PLATFORM_PREFIXES) or name in PLATFORM_NAMES
    ]
    assert not leaked, report["environ"]
    assert "DASH_ROUTES_PATHNAME_PREFIX" in report["environ"]
    assert "dash_portal_session" not in report["cookies"], report["cookies"]
    assert "authorization" not in {header.lower() for header in report["headers"]}
