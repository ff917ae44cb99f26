"""/api/me: who the caller is, as the portal verified it."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from portal.auth.csrf import csrf_token
from portal.auth.decorators import login_required
from portal.identity import current_user

__all__ = ["bp"]

bp = Blueprint("api_me", __name__)


@bp.get("/api/me")
@login_required
def me() -> Response:
    """Username, sub, email, roles and groups; a CSRF token for session callers."""
    user = current_user()
    assert user is not None  # login_required
    body = user.to_dict()
    body["auth"] = g.auth_via
    if g.auth_via == "session":
        body["csrf_token"] = csrf_token()
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response
