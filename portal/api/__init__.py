"""The portal's JSON API under /api, and the answers every endpoint gives the same way."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from portal.errors import ApiError
from portal.identity import User, current_user

__all__ = ["answer", "signed_in"]


def answer(body: Any, status: int = 200) -> Response:
    """A JSON answer that no shared cache may keep (answers depend on who asks)."""
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def signed_in() -> User:
    """The caller, or 401 (the same answer as portal.auth.decorators gives under /api)."""
    user = current_user()
    if user is None:
        raise ApiError(401, "Sign-in required.", login_url="/login")
    return user
