"""The guard in front of every mounted app: one decision for every path under /apps/<slug>/.

The page, /_dash-layout, /_dash-dependencies, /_dash-update-component, component
suites, assets and any route an app adds (exports) all pass through here, decided
from the app's access level and the verified identity. Deny by default: an unknown
app is 404, an anonymous caller of an app that needs sign-in gets 401 (JSON for
anything but a page, which is redirected to /login), a signed-in caller who may not
view the app gets 403.
"""

from __future__ import annotations

import json

from flask import Flask, Request, current_app, request

from portal import registry
from portal.auth.decorators import anonymous_answer
from portal.callback_body import check_callback_body
from portal.errors import ApiError
from portal.identity import current_user
from portal.mount import mounted_apps
from roles import can_view

__all__ = ["CREDENTIALS_HEADER", "init_app"]

#: Posit Connect's header: JSON {"user": ..., "groups": [...]}, for apps written for it.
CREDENTIALS_HEADER = "RStudio-Connect-Credentials"
_ENVIRON_KEY = "HTTP_" + CREDENTIALS_HEADER.upper().replace("-", "_")


def _slug_of(path: str) -> str:
    return path[len("/apps/") :].split("/", 1)[0]


def _is_page_load(req: Request, rest: str) -> bool:
    """A browser navigating to the app (worth a redirect to sign-in and a view count)."""
    return (
        req.method == "GET"
        and not rest.startswith(("_dash-", "_reload-hash", "_favicon", "assets/"))
        and "text/html" in req.headers.get("Accept", "")
    )


def guard_request() -> object | None:
    # Runs before every request, each Dash callback included, and every use of a Flask
    # context proxy costs about a microsecond: look each object up once.
    req = request._get_current_object()
    environ = req.environ
    # Nobody may hand an app this header: only the guard sets it, after its decision.
    environ.pop(_ENVIRON_KEY, None)
    path = req.path
    if not path.startswith("/apps/"):
        return None
    slug = _slug_of(path)
    mounted = mounted_apps(current_app._get_current_object()).get(slug)
    app = registry.get_app(slug) if mounted is not None else None
    if app is None:
        raise ApiError(404, f"No app named {slug!r}.")
    rest = path[len(f"/apps/{slug}/") :]
    user = current_user()
    if not can_view(user, app):
        if user is None:
            return anonymous_answer()
        raise ApiError(403, f"You do not have access to the app {slug!r}.")
    if rest == "_dash-update-component":
        check_callback_body(req.get_json(silent=True), mounted.dash.callback_map)
    elif _is_page_load(req, rest):
        registry.record_view(slug, user.username if user else None)
    if mounted.package.credentials_header and user is not None:
        environ[_ENVIRON_KEY] = json.dumps({"user": user.username, "groups": sorted(user.groups)})
    return None


def init_app(app: Flask) -> None:
    """Register the guard after the identity loader, so ``g.user`` is already set."""
    app.before_request(guard_request)
