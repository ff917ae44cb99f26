"""Revocation against the real Keycloak: sign-outs and disabled users end access quickly.

Keycloak's access tokens live for minutes and it sends one back-channel logout per
"Sign out" of a user; the portal ends the user's other sessions at once, refuses
tokens of revoked sign-ins, and learns of disabled users from Keycloak's admin events.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import requests

from tests.live_stack import Stack
from tests.oidc_flow import admin_api, cli_tokens, login, sign_out_everywhere

pytestmark = pytest.mark.integration

#: Longer than any wait below, so only revocation (not expiry) can end access.
LONG_LIFESPAN = 600


def seconds_until(check: Callable[[], bool], *, limit: float) -> float:
    """Seconds until ``check()`` holds (polled), failing after ``limit`` seconds."""
    started = time.monotonic()
    while not check():
        elapsed = time.monotonic() - started
        assert elapsed < limit, f"still not revoked after {limit:.0f} s"
        time.sleep(0.1)
    return time.monotonic() - started


def me_status(stack: Stack, session: requests.Session | None = None, token: str = "") -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = session or requests
    return http.get(f"{stack.portal_url}/api/me", headers=headers, timeout=10).status_code


@pytest.fixture()
def long_tokens(stack: Stack, temp_user: dict) -> Iterator[None]:
    """Access tokens of the portal and the CLI live 10 minutes during the test."""
    api = temp_user["api"]
    saved = []
    for client_id in ("dash", "dash-cli"):
        rep = api.get(f"{api.base_url}/clients", params={"clientId": client_id}).json()[0]
        saved.append(rep)
        longer = {**rep, "attributes": {**rep["attributes"]}}
        longer["attributes"]["access.token.lifespan"] = str(LONG_LIFESPAN)
        assert api.put(f"{api.base_url}/clients/{rep['id']}", json=longer).status_code == 204
    yield
    api = admin_api(stack.keycloak_url)  # the first admin token may have expired meanwhile
    for rep in saved:
        # Keycloak keeps attributes a PUT leaves out; an empty value removes one.
        restored = {**rep, "attributes": {**rep["attributes"], "access.token.lifespan": ""}}
        assert api.put(f"{api.base_url}/clients/{rep['id']}", json=restored).status_code == 204


def test_keycloak_sign_out_ends_every_portal_session_within_two_seconds(
    stack: Stack,
    temp_user: dict,
) -> None:
    api, user_id, name = temp_user["api"], temp_user["id"], temp_user["username"]
    browsers = [login(stack.portal_url, name), login(stack.portal_url, name)]
    bystander = login(stack.portal_url, "dave")
    assert {me_status(stack, b) for b in browsers} == {200}
    started = time.monotonic()
    assert api.post(f"{api.base_url}/users/{user_id}/logout").status_code == 204
    elapsed = seconds_until(lambda: {me_status(stack, b) for b in browsers} == {401}, limit=10)
    print(f"Keycloak sign-out: both portal sessions ended after {elapsed:.2f} s")
    assert time.monotonic() - started <= 2.0
    assert me_status(stack, bystander) == 200


def test_platform_sign_out_refuses_earlier_bearer_tokens_at_once(
    stack: Stack,
    temp_user: dict,
    long_tokens: None,
) -> None:
    name = temp_user["username"]
    tokens = cli_tokens(stack.issuer, name)
    browser = login(stack.portal_url, name)
    assert me_status(stack, token=tokens["access_token"]) == 200
    admin = login(stack.portal_url, "admin")
    assert sign_out_everywhere(admin, stack.portal_url, name).status_code in (302, 303)
    signed_out_at = time.time()
    elapsed = seconds_until(lambda: me_status(stack, token=tokens["access_token"]) == 401, limit=60)
    print(f"platform sign-out: the earlier bearer token was refused after {elapsed:.2f} s")
    assert elapsed <= 2.0
    assert me_status(stack, browser) == 401
    # A refreshed token comes from the same sign-in: refused as well.
    refreshed = requests.post(
        f"{stack.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "dash-cli",
            "refresh_token": tokens["refresh_token"],
        },
        timeout=30,
    ).json()["access_token"]
    assert me_status(stack, token=refreshed) == 401
    # The browser's Keycloak session cannot sign it in again: the password is asked for.
    again = login(stack.portal_url, name, session=browser)
    assert me_status(stack, again) == 200
    # A new sign-in works, once past the second of the sign-out (auth_time has whole
    # seconds, so a sign-in within that second counts as before it).
    while time.time() < int(signed_out_at) + 1:
        time.sleep(0.05)
    fresh = cli_tokens(stack.issuer, name)["access_token"]
    assert me_status(stack, token=fresh) == 200


def test_a_user_disabled_in_keycloak_loses_sessions_and_tokens_within_a_minute(
    stack: Stack,
    temp_user: dict,
    long_tokens: None,
) -> None:
    api, user_id, name = temp_user["api"], temp_user["id"], temp_user["username"]
    browser = login(stack.portal_url, name)
    token = cli_tokens(stack.issuer, name)["access_token"]
    assert me_status(stack, browser) == 200 and me_status(stack, token=token) == 200
    disabled = api.put(f"{api.base_url}/users/{user_id}", json={"enabled": False})
    assert disabled.status_code == 204
    session_gone = seconds_until(lambda: me_status(stack, browser) == 401, limit=60)
    token_gone = seconds_until(lambda: me_status(stack, token=token) == 401, limit=60)
    print(
        f"disabled user: session ended after {session_gone:.2f} s,"
        f" bearer token refused {token_gone:.2f} s later"
    )
