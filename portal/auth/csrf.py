"""CSRF protection for state-changing requests that ride on the session cookie.

The token lives in the server-side session; /api/me hands it out, forms post it as
``csrf_token`` and scripts send it as ``X-CSRF-Token``. Requests authenticated by a
bearer token need none: a browser never attaches one on its own.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Request, session
from flask.ctx import _AppCtxGlobals

from portal.errors import ApiError

__all__ = ["SAFE_METHODS", "check_csrf", "csrf_token", "session_csrf_token"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_KEY = "csrf_token"


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[_KEY] = token
    return token


def session_csrf_token() -> str | None:
    """The session's CSRF token if it has one (never creates one)."""
    return session.get(_KEY)


def _is_dash_callback(path: str) -> bool:
    # A cross-site form cannot send application/json without a CORS preflight, and the
    # session cookie is SameSite=Lax: Dash's JSON callbacks need no token of their own.
    return path.startswith("/apps/") and "/_dash-" in path


def check_csrf(req: Request, ctx_g: _AppCtxGlobals) -> None:
    """Refuse an unsafe request that carries no valid CSRF token (400)."""
    if req.method in SAFE_METHODS or ctx_g.get("auth_via") != "session":
        return  # No ambient session authority to abuse (anonymous, or a bearer token).
    if _is_dash_callback(req.path):
        if req.mimetype != "application/json":
            raise ApiError(415, "Dash callbacks must be sent as application/json.")
        return
    expected = session.get(_KEY)
    sent = req.headers.get("X-CSRF-Token") or req.form.get("csrf_token")
    if not expected or not sent or not hmac.compare_digest(str(expected), str(sent)):
        raise ApiError(400, "CSRF token missing or invalid. Reload the page and try again.")
