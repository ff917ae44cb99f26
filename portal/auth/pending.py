"""A sign-in in progress, kept in the browser: nothing is stored for a visitor.

``/login`` must remember the state, nonce and PKCE verifier until Keycloak sends the
browser back. Kept server-side, every anonymous ``GET /login`` would write a session
row (and make every worker drop its session cache). Instead they travel in one cookie,
sealed (:mod:`portal.sealing`: encrypted, so the page's scripts and the network see no
verifier, and authenticated, so none can be forged), sent only to the callback, and
refused once older than :data:`MAX_AGE`.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Request, Response

from portal.sealing import PENDING_SIGN_IN, seal, unseal
from portal.services import services

__all__ = ["COOKIE_NAME", "MAX_AGE", "forget", "recall", "remember"]

COOKIE_NAME = "dash_portal_signin"
#: A sign-in must come back within this many seconds of starting.
MAX_AGE = 600
#: The only path the browser sends the cookie to.
CALLBACK_PATH = "/auth/callback"


def remember(response: Response, pending: dict[str, Any]) -> None:
    """Have the browser keep ``pending`` (JSON values) for the callback."""
    response.set_cookie(
        COOKIE_NAME,
        seal(PENDING_SIGN_IN, json.dumps(pending, separators=(",", ":"))),
        max_age=MAX_AGE,
        path=CALLBACK_PATH,
        secure=services().settings.secure_cookies,
        httponly=True,
        # Keycloak's redirect back is a top-level navigation: Lax cookies go with it.
        samesite="Lax",
    )


def recall(request: Request) -> dict[str, Any] | None:
    """The sign-in this browser started, or None (none, forged, or older than MAX_AGE)."""
    sealed = request.cookies.get(COOKIE_NAME)
    value = unseal(PENDING_SIGN_IN, sealed, max_age=MAX_AGE) if sealed else None
    if value is None:
        return None
    pending = json.loads(value)
    return pending if isinstance(pending, dict) else None


def forget(response: Response) -> Response:
    """Drop the cookie (after the callback, whatever its outcome)."""
    response.delete_cookie(
        COOKIE_NAME,
        path=CALLBACK_PATH,
        secure=services().settings.secure_cookies,
        httponly=True,
        samesite="Lax",
    )
    return response
