"""Tokens over time, against the real Keycloak: bearer tokens, refresh, role changes,
Keycloak's admin "sign out" (back-channel logout), and Keycloak being unreachable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.live_stack import (
    ACCESS_TOKEN_LIFESPAN,
    HELLO_CALLBACK,
    ROOT,
    Stack,
    free_port,
    wait_http,
)
from tests.oidc_flow import cli_tokens, login, sign_out_everywhere

pytestmark = pytest.mark.integration


def cli_token(stack: Stack, username: str) -> str:
    """An access token from the public `dash-cli` client (code flow with PKCE)."""
    return cli_tokens(stack.issuer, username)["access_token"]


def test_bearer_token_from_the_cli_client_reaches_the_api(stack: Stack) -> None:
    token = cli_token(stack, "carol")
    answer = requests.get(
        f"{stack.portal_url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["username"] == "carol"
    assert body["groups"] == ["/sales/east/managers"]
    assert "csrf_token" not in body


def test_bearer_requests_need_no_csrf_but_session_requests_do(stack: Stack) -> None:
    token = cli_token(stack, "alice")
    headers = {"Authorization": f"Bearer {token}"}
    answer = requests.patch(
        f"{stack.portal_url}/api/apps/sales", json={"description": "Bearer edit"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    session = login(stack.portal_url, "alice")
    refused = session.patch(f"{stack.portal_url}/api/apps/sales", json={"description": "x"})
    assert refused.status_code == 400
    csrf = session.get(f"{stack.portal_url}/api/me").json()["csrf_token"]
    accepted = session.patch(
        f"{stack.portal_url}/api/apps/sales",
        json={"description": "Session edit"},
        headers={"X-CSRF-Token": csrf},
    )
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-jwt",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=",
        "Bearer ",
    ],
)
def test_bad_bearer_tokens_get_401(stack: Stack, header: str) -> None:
    answer = requests.get(
        f"{stack.portal_url}/api/me", headers={"Authorization": header}, timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["error"]


def _client_role(api: requests.Session, role: str) -> tuple[str, dict]:
    client = api.get(f"{api.base_url}/clients", params={"clientId": "dash"}).json()[0]
    return client["id"], api.get(f"{api.base_url}/clients/{client['id']}/roles/{role}").json()


def _eventually(check, *, timeout: float, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def test_role_change_in_keycloak_arrives_without_a_new_sign_in(
    stack: Stack, temp_user: dict
) -> None:
    api, user_id, name = temp_user["api"], temp_user["id"], temp_user["username"]
    session = login(stack.portal_url, name)
    assert session.get(f"{stack.portal_url}/api/me").json()["roles"] == ["viewer"]

    client_id, role = _client_role(api, "licensed_user")
    added = api.post(
        f"{api.base_url}/users/{user_id}/role-mappings/clients/{client_id}", json=[role]
    )
    assert added.status_code == 204
    group = api.get(f"{api.base_url}/group-by-path/finance").json()
    assert api.put(f"{api.base_url}/users/{user_id}/groups/{group['id']}").status_code == 204

    def refreshed() -> dict | None:
        body = session.get(f"{stack.portal_url}/api/me").json()
        return body if "licensed_user" in body["roles"] else None

    body = _eventually(refreshed, timeout=ACCESS_TOKEN_LIFESPAN + 15)
    assert body, "the new role did not arrive within the access-token lifespan"
    assert body["groups"] == ["/finance"]


def test_disabled_user_loses_the_session_at_refresh(stack: Stack, temp_user: dict) -> None:
    api, user_id, name = temp_user["api"], temp_user["id"], temp_user["username"]
    session = login(stack.portal_url, name)
    assert session.get(f"{stack.portal_url}/api/me").status_code == 200
    assert api.put(f"{api.base_url}/users/{user_id}", json={"enabled": False}).status_code == 204

    def signed_out() -> bool:
        return session.get(f"{stack.portal_url}/api/me").status_code == 401

    assert _eventually(signed_out, timeout=ACCESS_TOKEN_LIFESPAN + 15)


def test_backchannel_logout_refuses_a_forged_token(stack: Stack) -> None:
    forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXZlbnRzIjp7fX0."
    answer = requests.post(
        f"{stack.portal_url}/auth/backchannel-logout", data={"logout_token": forged}
    )
    assert answer.status_code == 400
    assert requests.post(f"{stack.portal_url}/auth/backchannel-logout").status_code == 400


@pytest.fixture()
def portal_without_keycloak(stack: Stack) -> Iterator[str]:
    """A second portal process on the same database whose Keycloak is unreachable."""
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}",  # sign-ins start and end here
        "KEYCLOAK_URL": stack.keycloak_url,
        "KEYCLOAK_INTERNAL_URL": f"http://127.0.0.1:{free_port()}",
        "PORTAL_DATA_DIR": str(stack.data_dir),
        "SALES_ROWS": os.environ.get("SALES_ROWS", "20000"),
    }
    log = (stack.data_dir / "portal-no-keycloak.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            f"--bind=127.0.0.1:{port}",
            "--workers=1",
            f"--chdir={ROOT}",
            "portal.wsgi:app",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/healthz", timeout=120, process=process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_keycloak_down_new_sign_in_gets_a_clear_503(portal_without_keycloak: str) -> None:
    answer = requests.get(f"{portal_without_keycloak}/login", timeout=30)
    assert answer.status_code == 503
    assert "Keycloak" in answer.text and "unreachable" in answer.text
    assert "Traceback" not in answer.text


def test_sign_out_reaches_another_portal_process_on_the_host_at_once(
    stack: Stack, portal_without_keycloak: str
) -> None:
    session = login(stack.portal_url, "bob")
    assert me_statuses(session, portal_without_keycloak) == {200}
    token = session.get(f"{stack.portal_url}/api/me").json()["csrf_token"]
    answer = session.post(
        f"{stack.portal_url}/logout", data={"csrf_token": token}, allow_redirects=False
    )
    assert answer.status_code == 303
    assert me_statuses(session, portal_without_keycloak) == {401}


def test_keycloak_down_signed_in_users_keep_working(
    stack: Stack, portal_without_keycloak: str
) -> None:
    session = login(stack.portal_url, "bob")
    time.sleep(ACCESS_TOKEN_LIFESPAN)  # the access token is due for refresh by now
    answer = session.get(f"{portal_without_keycloak}/api/me", timeout=30)
    assert answer.status_code == 200
    assert answer.json()["username"] == "bob"


def me_statuses(session: requests.Session, portal_url: str, times: int = 6) -> set[int]:
    """Statuses of ``times`` calls of /api/me on one portal process."""
    url = f"{portal_url}/api/me"
    return {session.get(url, timeout=10).status_code for _ in range(times)}


def refused_within(session: requests.Session, portal_url: str, started: float) -> float:
    """Seconds from ``started`` until the front door refuses the session's callbacks for good.

    The front door may reuse a yes for up to 1 s; the platform promises 2 s.
    """
    while callback_statuses(session, portal_url, times=1) != {401}:
        assert time.monotonic() - started < 5, "the session still works 5 s after sign-out"
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    assert callback_statuses(session, portal_url) == {401}  # and it stays refused
    return elapsed


def callback_statuses(session: requests.Session, portal_url: str, times: int = 12) -> set[int]:
    """Statuses of ``times`` Dash callbacks: enough for both gunicorn workers to answer."""
    url = f"{portal_url}/apps/hello/_dash-update-component"
    return {session.post(url, json=HELLO_CALLBACK, timeout=10).status_code for _ in range(times)}


def test_admin_section_sign_out_ends_every_portal_session_at_once(
    stack: Stack, temp_user: dict
) -> None:
    name = temp_user["username"]
    browsers = [login(stack.portal_url, name), login(stack.portal_url, name)]
    for browser in browsers:  # each worker now holds the sessions in its cache
        assert callback_statuses(browser, stack.portal_url) == {200}
    admin = login(stack.portal_url, "admin")
    admin.get(f"{stack.portal_url}/api/me")  # the admin's session is warm, as in a browser
    started = time.monotonic()
    assert sign_out_everywhere(admin, stack.portal_url, name).status_code in (302, 303)
    for browser in browsers:  # through the front door, in every worker, within 2 s
        assert refused_within(browser, stack.portal_url, started) <= 2.0
        assert browser.get(f"{stack.portal_url}/api/me").status_code == 401
    assert admin.get(f"{stack.portal_url}/api/me").status_code == 200


def test_admin_section_sign_out_needs_the_admin_role(stack: Stack, temp_user: dict) -> None:
    victim = login(stack.portal_url, temp_user["username"])
    alice = login(stack.portal_url, "alice")
    csrf = alice.get(f"{stack.portal_url}/api/me").json()["csrf_token"]
    answer = alice.post(
        f"{stack.portal_url}/admin/users/{temp_user['username']}/sign-out",
        data={"csrf_token": csrf},
        allow_redirects=False,
    )
    assert answer.status_code == 403
    assert victim.get(f"{stack.portal_url}/api/me").status_code == 200
