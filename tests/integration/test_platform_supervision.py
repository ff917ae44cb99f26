"""The platform's own processes are supervised: killed, they come back; their logs are kept.

These tests kill the session's portal and front door on purpose. Supervision is what
brings them back, so the stack is restored by the thing under test; each test waits until
the portal answers through the front door again before it ends.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests

from portal.hosting.local import LocalPlatform
from portal.hosting.platform_programs import FRONTDOOR, PORTAL
from scripts import stack as stack_script
from tests.live_stack import Stack
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

#: Restarting takes supervisord a second and gunicorn a few on a busy 2-core machine.
BACK_WITHIN = 90


def platform_of(stack: Stack) -> LocalPlatform:
    platform = LocalPlatform(data_dir=stack.data_dir, listen=urlsplit(stack.portal_url).netloc)
    assert (
        platform.layout.apps_dir == stack.apps_dir
        and platform.layout.portal_log == stack.portal_log
    )
    return platform


def until(predicate: Callable[[], object], timeout: float = BACK_WITHIN) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"not back within {timeout} s"
        time.sleep(0.2)
    return time.monotonic() - started


def portal_answers(stack: Stack) -> bool:
    """The front door answers /healthz from the portal, and /login sends to Keycloak."""
    try:
        health = requests.get(f"{stack.portal_url}/healthz", timeout=5)
        sign_in = requests.get(f"{stack.portal_url}/login", timeout=10, allow_redirects=False)
    except requests.RequestException:
        return False
    return health.status_code == 200 and sign_in.status_code == 302


def make_logs(platform: LocalPlatform) -> str:
    """What `make logs` prints for this platform."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        stack_script.logs(platform)
    return out.getvalue()


def test_a_sign_in_leaves_a_line_in_the_portal_log(stack: Stack) -> None:
    login(stack.portal_url, "dave")
    until(lambda: "signed in: dave" in stack.portal_log.read_text(errors="replace"), 10)
    assert stack.portal_log.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("sig", "how"),
    [
        (signal.SIGTERM, "exit status 0"),  # gunicorn's graceful stop
        (signal.SIGKILL, "terminated by SIGKILL"),
    ],
)
def test_the_portal_comes_back_after_its_master_is_killed(
    stack: Stack, sig: signal.Signals, how: str
) -> None:
    platform = platform_of(stack)
    session = login(stack.portal_url, "bob")
    master = platform.portal_running()
    assert master is not None
    os.kill(master, sig)

    # RUNNING, a new master, answering: not the workers a SIGKILLed master left behind.
    # (One look at supervisord's state: two could straddle the restart.)
    def back() -> bool:
        state = platform.supervisor.state(PORTAL)
        return state.statename == "RUNNING" and state.pid not in (0, master)

    until(lambda: back() and portal_answers(stack))
    assert session.get(f"{stack.portal_url}/api/me", timeout=10).json()["username"] == "bob"
    logs = make_logs(platform)
    assert f"exited: {PORTAL} ({how}" in logs
    assert re.search(f"{PORTAL} +RUNNING", logs), platform.layout.portal_log.read_text()[-3000:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_front_door_comes_back_after_nginx_is_killed(stack: Stack, sig: signal.Signals) -> None:
    platform = platform_of(stack)
    nginx = platform.supervisor.state(FRONTDOOR).pid
    assert nginx and nginx == platform.frontdoor.pid()
    os.kill(nginx, sig)
    # A new master, in the pid file the portal signals when an app's route changes (after
    # a SIGKILL, the old workers answer until the new master's launcher stops them).
    until(
        lambda: (
            platform.frontdoor.pid() not in (None, nginx)
            and platform.frontdoor.pid() == platform.supervisor.state(FRONTDOOR).pid
            and portal_answers(stack)
        )
    )
    assert f"exited: {FRONTDOOR} (" in make_logs(platform)
    hello = login(stack.portal_url, "alice").get(f"{stack.portal_url}/apps/hello/", timeout=30)
    assert hello.status_code == 200


def test_the_front_door_keeps_an_access_log_without_query_strings(stack: Stack) -> None:
    """Finding 19: one line per request in its own rotated log; a sign-in code in a query
    string (or a cookie) never lands there."""
    platform = platform_of(stack)
    marker = f"access-{time.monotonic_ns()}"
    answer = requests.get(
        f"{stack.portal_url}/apps/public/{marker}?code=secret-code",
        headers={"Cookie": "dash_portal_session=secret-cookie"},
        timeout=30,
    )
    assert answer.status_code in (200, 404)

    def logged() -> str:
        text = platform.layout.access_log.read_text() if platform.layout.access_log.exists() else ""
        return next((line for line in text.splitlines() if marker in line), "")

    until(logged, timeout=10)  # nginx writes its buffer at least once a second
    line = logged()
    assert f'"GET /apps/public/{marker} HTTP/1.1" {answer.status_code} ' in line, line
    assert "secret" not in platform.layout.access_log.read_text()
    assert f"{marker}" not in platform.layout.frontdoor_log.read_text()  # errors only there
