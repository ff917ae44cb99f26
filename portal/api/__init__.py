"""The portal's JSON API under /api, and the answers every endpoint gives the same way."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from werkzeug.exceptions import BadRequest

from portal.errors import ApiError
from portal.identity import User, current_user

__all__ = ["answer", "json_object", "signed_in"]


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


def json_object(shape: str = "") -> dict[str, Any]:
    """The request's body as a JSON object, or 400 saying what is wrong with it.

    The one place the API parses a body. Flask lets the ``RecursionError`` of a body nested
    deeper than Python's recursion limit through as a 500; here it is a 400 like any other
    JSON that cannot be read. ``shape`` shows the expected body in the message.
    """
    expected = f"The body must be a JSON object{': ' + shape if shape else ''}."
    try:
        body = request.get_json(force=True)
    except RecursionError:
        raise ApiError(400, f"The JSON body is nested too deeply. {expected}") from None
    except BadRequest:
        raise ApiError(400, f"The body is not valid JSON. {expected}") from None
    if not isinstance(body, dict):
        raise ApiError(400, expected)
    return body
