"""Signing in through the real Keycloak over HTTP, as a browser would, for tests.

No mock identity provider: the portal's /login redirects to Keycloak's own login form,
the test fills it in, and Keycloak redirects back to the portal's callback.
"""

from __future__ import annotations

import html
import http.cookiejar
import re
from urllib.parse import urlsplit

import requests

__all__ = [
    "LoginFormError",
    "admin_api",
    "keycloak_form_action",
    "login",
    "master_admin_token",
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
