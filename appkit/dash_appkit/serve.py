"""The gunicorn entry point of every bundle: ``dash_appkit.serve:application``.

The platform runs ``gunicorn --chdir <bundle> dash_appkit.serve:application`` with
``DASH_APP_ENTRYPOINT`` (``module:attribute``, default ``app:app``) naming the app object.
A Dash app is served through its Flask server; Dash itself reads the prefix the platform
puts it under from ``DASH_ROUTES_PATHNAME_PREFIX`` / ``DASH_REQUESTS_PATHNAME_PREFIX`` when
``dash.Dash(...)`` is created. Any other WSGI callable (a plain Flask app) is wrapped so the
prefix moves from ``PATH_INFO`` to ``SCRIPT_NAME``: it sees ``/`` for ``/apps/<slug>/``.

``application`` is resolved on first access (PEP 562), so importing this module has no
side effects; gunicorn's ``--preload`` resolves it once in the master.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from dash_appkit import bad_requests, callback_check

__all__ = ["DEFAULT_ENTRYPOINT", "EntrypointError", "PrefixMiddleware", "load"]

logger = logging.getLogger(__name__)

DEFAULT_ENTRYPOINT = "app:app"
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_ENTRYPOINT = re.compile(rf"({_DOTTED}):({_DOTTED})")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class EntrypointError(RuntimeError):
    """``DASH_APP_ENTRYPOINT`` does not name something that can be served."""


class PrefixMiddleware:
    """Serves ``app`` under ``prefix``: moves the prefix from ``PATH_INFO`` to ``SCRIPT_NAME``.

    Paths outside the prefix get 404: the front door only forwards the app's own paths.
    """

    def __init__(self, app: WSGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = "/" + prefix.strip("/")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO") or "/"
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not Found\n"]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + self.prefix
        environ["PATH_INFO"] = path[len(self.prefix) :] or "/"
        return self.app(environ, start_response)


class FirstRequestGate:
    """Lets a process's first request finish before any other starts.

    Dash prepares itself on the first request of each process (it registers the scripts
    it may serve), but marks that done before it is; under gunicorn's threads a second
    request arriving meanwhile is served unprepared and fails ("not a registered
    library"). A browser opening a page sends several at once, so this happens.
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._ready = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    try:
                        return self.app(environ, start_response)
                    finally:
                        self._ready = True
        return self.app(environ, start_response)


def _resolve(entrypoint: str) -> Any:
    match = _ENTRYPOINT.fullmatch(entrypoint.strip())
    if match is None:
        raise EntrypointError(
            f"DASH_APP_ENTRYPOINT={entrypoint!r} is not of the form module:attribute "
            f"(for example {DEFAULT_ENTRYPOINT!r})"
        )
    module_name, attribute = match.groups()
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # the bundle: gunicorn runs with --chdir <bundle>
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or module_name.split(".")[0] != exc.name.split(".")[0]:
            raise  # the module exists but one of its own imports is missing: show that
        raise EntrypointError(
            f"DASH_APP_ENTRYPOINT={entrypoint!r}: no module {module_name!r} in {cwd}"
        ) from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise EntrypointError(
                f"DASH_APP_ENTRYPOINT={entrypoint!r}: {module_name} has no {attribute!r}"
            ) from exc
    return obj


def load(entrypoint: str | None = None, prefix: str | None = None) -> WSGIApp:
    """The WSGI application ``entrypoint`` names (default: ``$DASH_APP_ENTRYPOINT``).

    ``prefix`` (default ``$DASH_ROUTES_PATHNAME_PREFIX``) is only applied to non-Dash apps.
    """
    entrypoint = entrypoint or os.environ.get("DASH_APP_ENTRYPOINT") or DEFAULT_ENTRYPOINT
    if prefix is None:
        prefix = os.environ.get("DASH_ROUTES_PATHNAME_PREFIX", "")
    obj = _resolve(entrypoint)
    server = getattr(obj, "server", None)
    if isinstance(server, Flask):  # a dash.Dash: it applied the prefix itself
        config = getattr(obj, "config", None)
        routes = getattr(config, "routes_pathname_prefix", None)
        if prefix.strip("/") and routes is not None and routes.strip("/") != prefix.strip("/"):
            logger.warning(
                "%s serves %r, not the platform's prefix %r: was url_base_pathname hard-coded?",
                entrypoint,
                routes,
                prefix,
            )
        bad_requests.install(obj)
        callback_check.install(obj)
        return FirstRequestGate(server)
    if isinstance(obj, Flask):
        bad_requests.bound_json(obj)
    if callable(obj):
        return PrefixMiddleware(obj, prefix) if prefix.strip("/") else obj
    raise EntrypointError(
        f"DASH_APP_ENTRYPOINT={entrypoint!r} names a {type(obj).__name__}, "
        "not a dash.Dash app or a WSGI callable"
    )


_application: WSGIApp | None = None


def __getattr__(name: str) -> Any:
    global _application
    if name == "application":
        if _application is None:
            _application = load()
        return _application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
