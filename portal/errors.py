"""Typed errors and the handlers that turn them into clear answers.

Bad input gets 400/401/403/404/409/422 with a message; nothing becomes a 500 with a
stack trace. API and Dash endpoints answer JSON, pages answer HTML. The registry's
domain errors know nothing of HTTP: :data:`REGISTRY_STATUS` is where each kind gets
its status code.
"""

from __future__ import annotations

import logging

from dash.exceptions import CallbackException
from flask import Flask, Response, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from portal.registry import errors as refusals
from portal.registry.errors import RegistryError

__all__ = ["REGISTRY_STATUS", "ApiError", "init_app", "status_of", "wants_json"]

log = logging.getLogger(__name__)

#: The answer while the platform database cannot serve (restarting, unreachable, locked).
DATABASE_UNAVAILABLE = "The platform database is unavailable right now. Try again in a moment."


class ApiError(Exception):
    """An error with an HTTP status and a message safe to show to the caller."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


#: The HTTP status of each kind of registry refusal.
REGISTRY_STATUS: dict[type[RegistryError], int] = {
    refusals.Malformed: 400,
    refusals.Forbidden: 403,
    refusals.NotFound: 404,
    refusals.Conflict: 409,
    refusals.Invalid: 422,
}


def status_of(error: RegistryError) -> int:
    """The status a registry refusal answers with (its nearest kind in the table)."""
    for kind in type(error).__mro__:
        if kind in REGISTRY_STATUS:
            return REGISTRY_STATUS[kind]
    return 400  # a refusal of a kind this table does not know: still the caller's


def wants_json() -> bool:
    """API, Dash internals and exports answer JSON; pages answer HTML."""
    path = request.path
    return (
        path.startswith("/api/")
        or "/_dash-" in path
        or path.startswith("/auth/backchannel")
        or request.accept_mimetypes.best == "application/json"
    )


def _answer(status: int, message: str, **extra: object) -> Response:
    if wants_json():
        response = jsonify({"error": message, "status": status, **extra})
    else:
        response = Response(
            render_template("error.html", status=status, message=message), mimetype="text/html"
        )
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return _answer(error.status, error.message, **error.extra)

    @app.errorhandler(RegistryError)
    def _registry_error(error: RegistryError) -> Response:
        return _answer(status_of(error), error.message, **error.extra)

    @app.errorhandler(OperationalError)
    def _database_unavailable(error: OperationalError) -> Response:
        # A database restart or outage: the caller may retry, nothing was half-written
        # (the transaction rolled back). Not a 500: nothing is wrong with the portal.
        log.warning(
            "platform database unavailable on %s %s: %s", request.method, request.path, error.orig
        )
        # No page template: rendering one would read the session, from that database.
        if wants_json():
            response = jsonify({"error": DATABASE_UNAVAILABLE, "status": 503})
        else:
            response = Response(DATABASE_UNAVAILABLE, mimetype="text/plain")
        response.status_code = 503
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        # Flask hands errors raised before dispatch (opening the session) over as a 500.
        if isinstance(getattr(error, "original_exception", None), OperationalError):
            return _database_unavailable(error.original_exception)
        response = _answer(error.code or 500, error.description or error.name)
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(CallbackException)
    def _bad_callback(error: CallbackException) -> Response:
        # Dash raises this for a body that does not match the callback (client input).
        return _answer(400, f"Malformed callback request: {error}")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _answer(500, "Internal error: the portal logged the details.")
