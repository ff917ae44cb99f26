"""Bad callback bodies get a clear 400, not a 500 from deep inside Dash.

Dash's dispatcher trusts the body of /_dash-update-component: a list where an object
belongs, or an unknown output, ends in a KeyError or TypeError inside it. The platform's
entry point (:mod:`dash_appkit.serve`) installs :func:`install` on every Dash app it
serves, so an app needs no change. Flask caches the parsed JSON: Dash reads it again for
free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

__all__ = ["MalformedCallback", "check_callback_body", "install"]


# Parsed JSON holds only dict and list, so those are the types checked.
def _is_dependency(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), str | dict)
        and isinstance(item.get("property"), str)
    )


def _are_dependencies(items: Any) -> bool:
    # Pattern-matching inputs (ALL, ALLSMALLER) arrive as lists of dependencies.
    if not isinstance(items, list):
        return False
    for item in items:
        if isinstance(item, list):
            for entry in item:
                if not _is_dependency(entry):
                    return False
        elif not _is_dependency(item):
            return False
    return True


class MalformedCallback(ValueError):
    """A callback request whose body does not describe a call of a known callback."""


def _bad(message: str) -> MalformedCallback:
    return MalformedCallback(f"Malformed callback request: {message}")


def check_callback_body(body: Any, callback_map: Mapping[str, Any]) -> None:
    """Raise :class:`MalformedCallback` unless ``body`` is a well-formed call of a callback."""
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    output = body.get("output")
    if not isinstance(output, str) or output not in callback_map:
        raise _bad("unknown output")
    outputs = body.get("outputs")
    if not (_is_dependency(outputs) or _are_dependencies(outputs)):
        raise _bad("'outputs' must describe the outputs")
    spec = callback_map[output]
    for key in ("inputs", "state"):
        items = body.get(key, [])
        if not _are_dependencies(items):
            raise _bad(f"'{key}' must be a list of {{id, property, value}}")
        expected = spec.get(key)
        if isinstance(expected, list) and len(items) != len(expected):
            raise _bad(f"'{key}' must have {len(expected)} entries, as the callback declares")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list):
        raise _bad("'changedPropIds' must be a list of strings")
    for prop_id in changed:
        if not isinstance(prop_id, str):
            raise _bad("'changedPropIds' must be a list of strings")


def _refusal(status: int, message: str) -> Response:
    answer = jsonify({"error": message, "status": status})
    answer.status_code = status
    return answer


def install(dash_app: Any) -> None:
    """Check every callback request of ``dash_app`` (a ``dash.Dash``) before Dash runs it.

    Reads ``dash_app.callback_map`` per request: Dash adds the global ``@callback``s to it
    at its first request.
    """
    server: Flask = dash_app.server

    def check() -> Response | None:
        if request.method != "POST" or not request.path.endswith("/_dash-update-component"):
            return None
        try:
            check_callback_body(request.get_json(), dash_app.callback_map)
        except MalformedCallback as error:
            return _refusal(400, str(error))
        except HTTPException as error:  # not JSON, or nested too deeply (bad_requests)
            return _refusal(error.code or 400, f"Malformed callback request: {error.description}")
        return None

    server.before_request(check)
