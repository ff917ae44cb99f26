"""Sign-in through the real Keycloak: the code flow, /api/me, sessions, logout."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests

from tests.live_stack import HELLO_CALLBACK
from tests.oidc_flow import keycloak_form_action, login

pytestmark = pytest.mark.integration

COOKIE = "dash_portal_session"
SIGN_IN_COOKIE = "dash_portal_signin"


def test_healthz(portal_url: str) -> None:
    answer = requests.get(f"{portal_url}/healthz", timeout=10)
    assert answer.status_code == 200
    # The session's platform runs one portal process: the local mode names it after its
    # supervisord program.
    assert answer.json() == {"status": "ok", "replica": "platform-portal"}


def test_alice_signs_in_with_keycloaks_login_form(portal_url: str) -> None:
    session = login(portal_url, "alice")
    me = session.get(f"{portal_url}/api/me", timeout=10)
    assert me.status_code == 200
    body = me.json()
    assert body["username"] == "alice"
    assert set(body["roles"]) == {"viewer", "licensed_user"}
    assert body["groups"] == ["/sales/east"]
    assert body["email"] == "alice@example.com"
    assert body["csrf_token"]


@pytest.mark.parametrize(
    ("username", "roles", "groups"),
    [
        ("bob", {"viewer"}, ["/sales/east"]),
        ("carol", {"viewer"}, ["/sales/east/managers"]),
        ("dave", {"viewer"}, []),
        ("admin", {"viewer", "licensed_user", "admin"}, []),
    ],
)
def test_roles_and_groups_of_demo_users(
    portal_url: str, username: str, roles: set[str], groups: list[str]
) -> None:
    body = login(portal_url, username).get(f"{portal_url}/api/me", timeout=10).json()
    assert body["username"] == username
    assert set(body["roles"]) == roles
    assert body["groups"] == groups


def test_username_typed_with_capitals_is_the_same_user(portal_url: str) -> None:
    body = login(portal_url, "Bob", "bob-password").get(f"{portal_url}/api/me").json()
    assert body["username"] == "bob"


def test_wrong_password_does_not_sign_in(portal_url: str) -> None:
    session = requests.Session()
    page = session.get(f"{portal_url}/login", timeout=30)
    answer = session.post(
        keycloak_form_action(page.text), data={"username": "bob", "password": "nope"}
    )
    assert "kc-form-login" in answer.text
    assert session.get(f"{portal_url}/api/me").status_code == 401


def test_anonymous_api_gets_401_json(portal_url: str) -> None:
    answer = requests.get(f"{portal_url}/api/me", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]


def test_anonymous_page_redirects_to_login_with_next(portal_url: str) -> None:
    answer = requests.get(
        f"{portal_url}/manager/", allow_redirects=False, headers={"Accept": "text/html"}
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/login?next=/manager/")


def test_login_returns_to_a_local_next(portal_url: str) -> None:
    session = login(portal_url, "bob", next_path="/apps/hello/")
    page = session.get(f"{portal_url}/apps/hello/", timeout=10)
    assert page.status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example"])
def test_login_never_redirects_off_site(portal_url: str, target: str) -> None:
    session = requests.Session()
    page = session.get(f"{portal_url}/login", params={"next": target}, timeout=30)
    answer = session.post(
        keycloak_form_action(page.text),
        data={"username": "bob", "password": "bob-password"},
        allow_redirects=False,
    )
    callback = answer.headers["Location"]
    final = session.get(callback, allow_redirects=False)
    assert final.status_code == 302
    assert final.headers["Location"] == "/"


def _start_flow(portal_url: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    answer = session.get(f"{portal_url}/login", allow_redirects=False, timeout=30)
    assert answer.status_code == 302
    return session, answer.headers["Location"]


def test_authorization_request_uses_pkce_s256_state_and_nonce(portal_url: str) -> None:
    _, location = _start_flow(portal_url)
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert query["state"][0] and query["nonce"][0]
    assert query["response_type"] == ["code"]


def _finish_with(session: requests.Session, auth_url: str) -> requests.Response:
    page = session.get(auth_url, timeout=30)
    answer = session.post(
        keycloak_form_action(page.text),
        data={"username": "bob", "password": "bob-password"},
        allow_redirects=False,
    )
    return answer


def test_state_mismatch_is_refused(portal_url: str) -> None:
    session, auth_url = _start_flow(portal_url)
    answer = _finish_with(session, auth_url)
    parts = urlsplit(answer.headers["Location"])
    query = parse_qs(parts.query)
    query["state"] = ["forged-state"]
    forged = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    result = session.get(forged, allow_redirects=False)
    assert result.status_code == 400
    assert "state" in result.text
    assert session.get(f"{portal_url}/api/me").status_code == 401


def test_pkce_mismatch_is_refused(portal_url: str) -> None:
    session, auth_url = _start_flow(portal_url)
    parts = urlsplit(auth_url)
    query = parse_qs(parts.query)
    other_verifier = "x" * 64
    digest = hashlib.sha256(other_verifier.encode()).digest()
    query["code_challenge"] = [base64.urlsafe_b64encode(digest).rstrip(b"=").decode()]
    tampered = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    answer = _finish_with(session, tampered)
    result = session.get(answer.headers["Location"], allow_redirects=False)
    assert result.status_code == 400
    assert session.get(f"{portal_url}/api/me").status_code == 401


def test_callback_without_a_sign_in_in_progress_is_refused(portal_url: str) -> None:
    answer = requests.get(f"{portal_url}/auth/callback?code=abc&state=def", timeout=10)
    assert answer.status_code == 400


def test_login_stores_no_session_and_a_new_id_is_issued_at_the_callback(portal_url: str) -> None:
    session, _ = _start_flow(portal_url)
    assert not session.cookies.get(COOKIE), "a visitor gets no server-side session"
    planted = "attacker-chosen-session-id"
    host = urlsplit(portal_url).hostname
    session.cookies.set(COOKIE, planted, domain=host, path="/")
    login(portal_url, "bob", session=session)
    after = session.cookies.get(COOKIE, domain=host, path="/")
    assert after and after != planted
    attacker = requests.Session()
    attacker.cookies.set(COOKIE, planted)
    assert attacker.get(f"{portal_url}/api/me").status_code == 401


def test_sign_in_cookie_flags(portal_url: str) -> None:
    answer = requests.get(f"{portal_url}/login", allow_redirects=False, timeout=30)
    header = answer.headers.get("Set-Cookie", "")
    assert SIGN_IN_COOKIE in header and COOKIE not in header
    assert "HttpOnly" in header and "SameSite=Lax" in header
    assert "Path=/auth/callback" in header and "Max-Age=600" in header


def test_session_cookie_flags(portal_url: str) -> None:
    session, auth_url = _start_flow(portal_url)
    answer = session.get(_finish_with(session, auth_url).headers["Location"], allow_redirects=False)
    assert answer.status_code == 302
    header = ",".join(answer.raw.headers.getlist("Set-Cookie"))
    assert COOKIE in header
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header


def test_cookie_holds_no_token(portal_url: str) -> None:
    session = login(portal_url, "bob")
    value = session.cookies.get(COOKIE)
    assert value and len(value) < 200
    assert "eyJ" not in value  # no JWT in the cookie


def test_tampered_cookie_is_anonymous(portal_url: str) -> None:
    session = login(portal_url, "bob")
    value = session.cookies.get(COOKIE)
    sid, _, signature = value.partition(".")
    tampered = sid[:-2] + ("AA" if sid[-2:] != "AA" else "BB") + "." + signature
    for cookie in session.cookies:
        if cookie.name == COOKIE:
            cookie.value = tampered
    assert session.get(f"{portal_url}/api/me").status_code == 401


def test_logout_requires_csrf_token(portal_url: str) -> None:
    session = login(portal_url, "bob")
    refused = session.post(f"{portal_url}/logout", allow_redirects=False)
    assert refused.status_code == 400
    assert session.get(f"{portal_url}/api/me").status_code == 200


def test_logout_get_only_asks_to_confirm(portal_url: str) -> None:
    """An app's "Sign out" link opens GET /logout: a form, never a sign-out by itself."""
    session = login(portal_url, "bob")
    page = session.get(f"{portal_url}/logout", allow_redirects=False)
    assert page.status_code == 200
    assert 'method="post" action="/logout"' in page.text and 'name="csrf_token"' in page.text
    assert session.get(f"{portal_url}/api/me").status_code == 200


def test_logout_ends_portal_and_keycloak_sessions(portal_url: str) -> None:
    session = login(portal_url, "bob")
    callback = f"{portal_url}/apps/hello/_dash-update-component"
    for _ in range(8):  # both workers serve (and cache) the session
        assert session.post(callback, json=HELLO_CALLBACK, timeout=10).status_code == 200
    token = session.get(f"{portal_url}/api/me").json()["csrf_token"]
    answer = session.post(f"{portal_url}/logout", data={"csrf_token": token}, allow_redirects=False)
    assert answer.status_code == 303
    for _ in range(8):  # ended in every worker before Keycloak is even asked
        assert session.post(callback, json=HELLO_CALLBACK, timeout=10).status_code == 401
    end_session = answer.headers["Location"]
    assert "/protocol/openid-connect/logout" in end_session
    assert "id_token_hint=" in end_session
    final = session.get(end_session, timeout=30)
    assert final.status_code == 200
    assert session.get(f"{portal_url}/api/me").status_code == 401
    # Keycloak's session is gone too: signing in again shows the login form, not SSO.
    page = session.get(f"{portal_url}/login", timeout=30)
    assert "kc-form-login" in page.text


def test_unknown_route_is_a_clear_404(portal_url: str) -> None:
    answer = requests.get(f"{portal_url}/api/nothing-here", timeout=10)
    assert answer.status_code == 404
    assert "error" in answer.json()
    assert not re.search(r"Traceback|File \"", answer.text)
