"""Signing users in for unit tests: a real server-side session, as /auth/callback makes one.

Like Flask-Login's test client, :class:`PortalClient` takes the user per request
(``client.get(path, user="alice")``); unlike a header hook, it goes through the
portal's own code: :func:`start_session` stores the user's verified session with
``begin_session`` in the portal's session store, and the request carries that session's
signed cookie (and, for writes, its CSRF token, as a page's form would). So the real
``authenticate_request`` reads who is asking, exactly as for a browser. Tokens are
placeholders valid for an hour: nothing on the request path re-reads them before then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers
from werkzeug.test import TestResponse

from portal.auth.csrf import SAFE_METHODS, csrf_token
from portal.auth.provider import TokenSet
from portal.auth.session_store import SESSION_COOKIE_NAME
from portal.auth.sessions import begin_session
from portal.identity import User
from tests.unit.demo import DEMO_USERS

__all__ = ["PortalClient", "SignedIn", "sign_in", "start_session", "whoami"]

HELLO = "/apps/hello/_dash-update-component"


@dataclass(frozen=True)
class SignedIn:
    """A stored session: its cookie value and its CSRF token."""

    cookie: str
    csrf_token: str


def start_session(app: Flask, user: User, *, sid: str = "kc-session") -> SignedIn:
    """Store a signed-in session for ``user`` the way /auth/callback does."""
    tokens = TokenSet(
        user=user,
        access_token="access",
        refresh_token="refresh",
        id_token="id",
        expires_at=time.time() + 3600,
        refresh_expires_at=time.time() + 7200,
        keycloak_sid=sid,
    )
    with app.test_request_context("/auth/callback"):
        begin_session(tokens)
        token = csrf_token()
        response = app.process_response(Response())
    cookie = response.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    return SignedIn(cookie=cookie, csrf_token=token)


def sign_in(app: Flask, user: User, *, sid: str = "kc-session") -> str:
    """Start a session for ``user``; returns the cookie value."""
    return start_session(app, user, sid=sid).cookie


def whoami(app: Flask, cookie: str) -> tuple[int, str]:
    """The front door's question for a hello callback: status, and who the app is told."""
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE_NAME, cookie)
    answer = client.get(
        "/_frontdoor/auth",
        headers={
            "X-Original-URI": HELLO,
            "X-Original-Method": "POST",
            "X-Original-Content-Type": "application/json",
        },
    )
    return answer.status_code, answer.headers.get("X-Platform-User-Data", "")


class PortalClient(FlaskClient):
    """A test client whose requests may name who sends them: ``user="alice"`` (or a User).

    The first request as a user signs them in (:func:`start_session`); later ones reuse
    that session. The cookie rides on that request alone, so the next request without
    ``user`` is anonymous again. Names are looked up in ``DEMO_USERS``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sessions: dict[User, SignedIn] = {}

    def signed_in(self, user: str | User) -> SignedIn:
        """The session of ``user`` in this client, started on first use."""
        person = DEMO_USERS[user] if isinstance(user, str) else user
        if person not in self._sessions:
            self._sessions[person] = start_session(self.application, person)
        return self._sessions[person]

    def open(self, *args: Any, user: str | User | None = None, **kwargs: Any) -> TestResponse:
        if user is None:
            return super().open(*args, **kwargs)
        signed_in = self.signed_in(user)
        method = str(kwargs.get("method", "GET")).upper()
        if method not in SAFE_METHODS:
            headers = Headers(kwargs.get("headers"))
            headers.setdefault("X-CSRF-Token", signed_in.csrf_token)
            kwargs["headers"] = headers
        before = self.get_cookie(SESSION_COOKIE_NAME)
        self.set_cookie(SESSION_COOKIE_NAME, signed_in.cookie)
        try:
            return super().open(*args, **kwargs)
        finally:
            if before is None:
                self.delete_cookie(SESSION_COOKIE_NAME)
            else:
                self.set_cookie(SESSION_COOKIE_NAME, before.value)
