"""Signing in through the real Keycloak over HTTP, as a browser would, for tests.

No mock identity provider: the portal's /login redirects to Keycloak's own login form,
the test fills it in, and Keycloak redirects back to the portal's callback.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.cookiejar
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

__all__ = [
    "LoginFormError",
    "admin_api",
    "cli_tokens",
    "keycloak_form_action",
    "login",
    "master_admin_token",
    "sign_out_everywhere",
]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_return_ok_secure = http.cookiejar.DefaultCookiePolicy.return_ok_secure


def _loopback_is_secure(self, cookie, request) -> bool:
    # Keycloak marks its login cookies Secure even over http://127.0.0.1. Browsers send
    # them there (loopback is a secure context); http.cookiejar does not, and Keycloak
    # would answer "restart login cookie not found". Behave like the browser, on
    # loopback only.
    if urlsplit(request.get_full_url()).hostname in _LOOPBACK:
        return True
    return _return_ok_secure(self, cookie, request)


http.cookiejar.DefaultCookiePolicy.return_ok_secure = _loopback_is_secure

_FORM = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', re.S)
_FORM_ALT = re.compile(r'<form[^>]*action="([^"]+)"[^>]*id="kc-form-login"', re.S)


class LoginFormError(AssertionError):
    """Keycloak did not show its login form where the flow expected it."""


def keycloak_form_action(page: str) -> str:
    match = _FORM.search(page) or _FORM_ALT.search(page)
    if not match:
        raise LoginFormError("no Keycloak login form in the page")
    return html.unescape(match.group(1))


def login(
    portal_url: str,
    username: str,
    password: str | None = None,
    *,
    next_path: str = "/api/me",
    session: requests.Session | None = None,
) -> requests.Session:
    """A requests session signed in to the portal as ``username`` via the code flow."""
    session = session or requests.Session()
    page = session.get(f"{portal_url}/login", params={"next": next_path}, timeout=30)
    page.raise_for_status()
    action = keycloak_form_action(page.text)
    answer = session.post(
        action,
        data={"username": username, "password": password or f"{username}-password"},
        timeout=30,
    )
    if "kc-form-login" in answer.text:
        raise LoginFormError(f"Keycloak refused the credentials of {username}")
    if not answer.url.startswith(portal_url):
        text = re.sub(r"<[^>]+>|\s+", " ", answer.text)[-1500:]
        raise LoginFormError(f"sign-in ended at {answer.url}, not on the portal: {text}")
    return session


def cli_tokens(
    issuer: str,
    username: str,
    password: str | None = None,
    *,
    node_url: str | None = None,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """Tokens from the public ``dash-cli`` client (code flow with PKCE), as the CLI gets them.

    ``node_url`` sends every request to that one node of a Keycloak cluster, although its
    login form names the cluster's public URL. A ``session`` that signed in before comes
    straight back with a code (Keycloak's SSO cookie): no form, no password.
    """
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    public = urlsplit(issuer)
    origin = f"{public.scheme}://{public.netloc}"
    base = f"{node_url.rstrip('/')}{public.path}" if node_url else issuer
    session = session or requests.Session()
    page = session.get(
        f"{base}/protocol/openid-connect/auth",
        params={
            "client_id": "dash-cli",
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": "http://127.0.0.1/callback",
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "state": "s",
        },
        allow_redirects=False,
        timeout=30,
    )
    answer = page
    if not page.is_redirect:
        action = keycloak_form_action(page.text)
        if node_url and action.startswith(origin):
            action = node_url.rstrip("/") + action[len(origin) :]
        answer = session.post(
            action,
            data={"username": username, "password": password or f"{username}-password"},
            allow_redirects=False,
            timeout=30,
        )
    if "Location" not in answer.headers:
        raise LoginFormError(f"Keycloak refused the sign-in of {username} ({answer.status_code})")
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{base}/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "dash-cli",
            "code": code,
            "redirect_uri": "http://127.0.0.1/callback",
            "code_verifier": verifier,
        },
        timeout=30,
    )
    tokens.raise_for_status()
    return tokens.json()


def master_admin_token(keycloak_url: str) -> str:
    """A token of Keycloak's bootstrap admin (dev only), to change users in tests."""
    answer = requests.post(
        f"{keycloak_url}/realms/master/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "admin-cli",
            "username": "admin",
            "password": "admin",
        },
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def admin_api(keycloak_url: str, realm: str = "dash") -> requests.Session:
    """A requests session on Keycloak's admin REST API of ``realm``."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {master_admin_token(keycloak_url)}"
    session.base_url = f"{keycloak_url}/admin/realms/{realm}"  # type: ignore[attr-defined]
    return session


def sign_out_everywhere(
    admin: requests.Session, portal_url: str, username: str
) -> requests.Response:
    """The Admin section's "Sign out everywhere" of ``username`` by a signed-in admin."""
    csrf = admin.get(f"{portal_url}/api/me", timeout=10).json()["csrf_token"]
    return admin.post(
        f"{portal_url}/admin/users/{username}/sign-out",
        data={"csrf_token": csrf},
        allow_redirects=False,
        timeout=30,
    )
