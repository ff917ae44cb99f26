"""``POST /api/app-events``: an app reports an event for the audit log (the sales app's
"view as"), authenticated by its app token (``X-Platform-App-Token``), never by a user.

The event is stored as the app reported it, marked with the app that reported it; an app
can only add ``app.*`` events, never change the platform.
"""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, jsonify, request

from portal import audit
from portal.api import json_object
from portal.deploys.app_tokens import slug_of_token
from portal.errors import ApiError
from portal.registry.validation import unsafe_character
from portal.services import services

__all__ = ["bp"]

bp = Blueprint("api_app_events", __name__, url_prefix="/api/app-events")

_ACTION = re.compile(r"^app\.[a-z_.]{1,60}$")
_MAX_DETAIL = 4096


def _text(body: dict, name: str, limit: int = 255) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ApiError(422, f"{name} must be a non-empty string of at most {limit} characters.")
    found = unsafe_character(value)
    if found is not None:  # the audit log is read by admins: nothing may disguise an entry
        raise ApiError(
            422, f"{name} must not contain control, bidi or invisible characters ({found})."
        )
    return value.strip()


@bp.post("", strict_slashes=False)
def record_event() -> Response:
    """Add one audit event reported by the app the token names."""
    token = request.headers.get("X-Platform-App-Token", "")
    slug = slug_of_token(services().settings.secret_key, token) if token else None
    if slug is None:
        raise ApiError(401, "An app token (X-Platform-App-Token) is required.")
    body = json_object()
    action = _text(body, "action", 64)
    if not _ACTION.match(action):
        raise ApiError(422, "action must look like app.something (lower-case).")
    detail = body.get("detail") or {}
    if not isinstance(detail, dict) or len(json.dumps(detail)) > _MAX_DETAIL:
        raise ApiError(422, f"detail must be a JSON object of at most {_MAX_DETAIL} bytes.")
    audit.record(
        _text(body, "actor"),
        action,
        _text(body, "target"),
        detail=detail | {"app": slug, "reported_by": f"app:{slug}"},
    )
    response = jsonify({"recorded": True})
    response.status_code = 201
    return response
