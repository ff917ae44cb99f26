"""Bad requests to an app get a clear 400 or 404 from the platform, never a 500.

Two holes in what Flask and Dash do with a visitor's request, closed for every app the
platform serves (:mod:`dash_appkit.serve` installs them), with no change to the app:

- JSON nested deeper than Python's recursion limit makes ``json.loads`` raise
  ``RecursionError``, which Flask's ``get_json`` lets through: a 500 on every JSON
  endpoint, ``/_dash-update-component`` first. :func:`bound_json` gives the server a
  request class whose ``get_json`` answers 400 instead (``None`` when ``silent``).
- Dash answers a file it does not serve under ``/_dash-component-suites/`` (an unknown
  package, an unregistered or missing path) with an exception, so a 500 that lists every
  registered file. :func:`install` makes that a 404 naming only the path asked for.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import BadRequest

__all__ = ["TOO_DEEP", "bound_json", "install"]

TOO_DEEP = "The JSON body is nested too deeply."
_COMPONENT_SUITES = "/_dash-component-suites/"


class _BoundedJSON:
    """Mixed into the server's request class: too deep a JSON body is a 400, not a 500."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        try:
            return super().get_json(force=force, silent=silent, cache=cache)  # type: ignore[misc]
        except RecursionError:
            if silent:
                return None
            raise BadRequest(TOO_DEEP) from None


def bound_json(server: Flask) -> None:
    """Make ``server``'s requests refuse too deeply nested JSON with 400 (idempotent)."""
    if not issubclass(server.request_class, _BoundedJSON):
        base = server.request_class
        server.request_class = type(f"Bounded{base.__name__}", (_BoundedJSON, base), {})


def _not_found(package_name: str, fingerprinted_path: str) -> Response:
    answer = jsonify(
        {"error": f"No file {package_name}/{fingerprinted_path} in this app.", "status": 404}
    )
    answer.status_code = 404
    return answer


def install(dash_app: Any) -> None:
    """Give ``dash_app`` (a ``dash.Dash``) clear answers to bad requests."""
    from dash.exceptions import DependencyException  # imported here: the kit needs no dash

    server: Flask = dash_app.server
    bound_json(server)

    def serving_only_what_exists(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def serve(package_name: str, fingerprinted_path: str) -> Any:
            try:
                return view(package_name=package_name, fingerprinted_path=fingerprinted_path)
            # Dash refuses an unknown package or path; a registered file missing from
            # its package fails in pkgutil (OSError).
            except (DependencyException, OSError):
                return _not_found(package_name, fingerprinted_path)

        return serve

    for rule in server.url_map.iter_rules():
        if _COMPONENT_SUITES in rule.rule:
            view = server.view_functions[rule.endpoint]
            server.view_functions[rule.endpoint] = serving_only_what_exists(view)
