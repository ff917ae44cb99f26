"""The gunicorn entry point of every bundle: ``dash_appkit.serve:application``.

The platform runs ``gunicorn --chdir <bundle> dash_appkit.serve:application`` with
``DASH_APP_ENTRYPOINT`` (``module:attribute``, default ``app:app``) naming the app object.
A Dash app is served through its Flask server; Dash itself reads the prefix the platform
puts it under from ``DASH_ROUTES_PATHNAME_PREFIX`` / ``DASH_REQUESTS_PATHNAME_PREFIX`` when
``dash.Dash(...)`` is created. Any other WSGI callable (a plain Flask app) is wrapped so the
prefix moves from ``PATH_INFO`` to ``SCRIPT_NAME``: it sees ``/`` for ``/apps/<slug>/``.

``application`` is resolved on first access (PEP 562), so importing this module has no
side effects; gunicorn's ``--preload`` resolves it once in the master.

A Dash page names the Dash, Python and Plotly versions it runs on (in ``_dash-config``,
for the dev tools' version check, and in the favicon's URL): a map of known holes for
anyone who opens a public app. The platform leaves them out of every Dash page through
Dash's ``index`` hook, without a change to the app's code.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from dash_appkit import bad_requests, callback_check
from dash_appkit.environment import DEFAULT_ENTRYPOINT, AppEnvironment

__all__ = [
    "DEFAULT_ENTRYPOINT",
    "EntrypointError",
    "PrefixMiddleware",
    "load",
    "without_versions",
]

logger = logging.getLogger(__name__)

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_ENTRYPOINT = re.compile(rf"({_DOTTED}):({_DOTTED})")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Keys of Dash's page config that tell which software runs; the page works without them
#: (only the dev tools, off on the platform, show them).
VERSION_KEYS = (
    "dash_version",
    "python_version",
    "dash_version_url",
    "ddk_version",
    "plotly_version",
)
_CONFIG = re.compile(r'(<script id="_dash-config" type="application/json">)(.*?)(</script>)', re.S)
_FAVICON_VERSION = re.compile(r"(_favicon\.ico)\?v=[^\"'\s>]*")


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


def without_versions(index: str) -> str:
    """A Dash page without the versions it would show (Dash's ``index`` hook)."""

    def config_without_versions(match: re.Match[str]) -> str:
        config = json.loads(match.group(2))
        for key in VERSION_KEYS:
            config.pop(key, None)
        # As Dash writes it: "/" escaped, so no "</script>" can end the block early.
        text = json.dumps(config, separators=(",", ":")).replace("/", "\\u002f")
        return match.group(1) + text + match.group(3)

    return _FAVICON_VERSION.sub(r"\1", _CONFIG.sub(config_without_versions, index, count=1))


_hook_installed = False


def _hide_versions(dash_app: Any) -> None:
    """Register :func:`without_versions` with Dash, once per process.

    Dash before 3.0 has no hooks: there the app's ``interpolate_index``, the method Dash
    documents for changing the page, is wrapped instead.
    """
    global _hook_installed
    try:
        from dash import hooks
    except ImportError:
        render = dash_app.interpolate_index
        dash_app.interpolate_index = lambda **parts: without_versions(render(**parts))
        return
    if not _hook_installed:
        hooks.index()(without_versions)
        _hook_installed = True


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
    environment = AppEnvironment.from_env()
    entrypoint = entrypoint or environment.entrypoint
    if prefix is None:
        prefix = environment.routes_prefix
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
        _hide_versions(obj)
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
