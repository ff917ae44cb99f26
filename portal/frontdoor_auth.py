"""The portal's side of the front door: one decision for every request under /apps/<slug>/.

nginx asks ``GET /_frontdoor/auth`` (with the original method, URI and content type) before
any request reaches an app. The answer is 200 with the identity headers for the app, or
401/403 with nothing: nginx then hands the original request to the catch-all route here,
which makes the same decision and renders it as the caller expects (401 JSON for Dash's
endpoints, a redirect to /login for pages, 403, 404, 400/415 for a write without its CSRF
proof). Deny by default: an unknown app is 404 and a decision never reads an identity from
anything but the verified session.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Blueprint, Response, render_template, request

from portal import registry
from portal.auth.csrf import SAFE_METHODS, session_csrf_token
from portal.auth.decorators import anonymous_answer
from portal.deploys.operations import wake
from portal.errors import ApiError
from portal.identity import User, current_user
from portal.registry import AppRecord
from portal.services import services
from roles import can_view

__all__ = ["Decision", "bp", "decide", "identity_headers"]

bp = Blueprint("frontdoor", __name__)

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # as registry.validation.check_slug
#: How long a request to a sleeping app waits for it to start before a 503.
WAKE_WAIT = 10.0
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True)
class Decision:
    """What the front door does with one request: 200 lets it through."""

    status: int
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.status == 200


ALLOW = Decision(200)


def slug_of(path: str) -> str:
    """``/apps/sales/_dash-layout`` → ``sales``."""
    return path.removeprefix("/apps/").split("/", 1)[0]


def decide(
    user: User | None,
    app: AppRecord | None,
    *,
    slug: str,
    method: str,
    path: str,
    content_type: str,
    csrf_sent: str | None,
    csrf_expected: str | None,
) -> Decision:
    """Whether ``user`` may send this request to the app (pure: no request, no database)."""
    if app is None:
        return Decision(404, f"No app named {slug!r}.")
    if not can_view(user, app):
        if user is None:
            return Decision(401, "Sign-in required.")
        return Decision(403, f"You do not have access to the app {slug!r}.")
    if user is None or method.upper() in SAFE_METHODS:
        return ALLOW
    # A write riding on the session cookie. Dash's callbacks are JSON, which a cross-site
    # form cannot send without a CORS preflight (and the cookie is SameSite=Lax); any other
    # write must prove it comes from a page of ours with the session's CSRF token.
    if "/_dash-" in path:
        if content_type.split(";")[0].strip().lower() != "application/json":
            return Decision(415, "Dash callbacks must be sent as application/json.")
        return ALLOW
    if not csrf_expected or not csrf_sent or not hmac.compare_digest(csrf_expected, csrf_sent):
        return Decision(400, "CSRF token missing or invalid. Reload the page and try again.")
    return ALLOW


def identity_headers(user: User) -> dict[str, str]:
    """What the front door hands the app: Dash Enterprise's and Posit Connect's headers."""
    groups = sorted(user.groups)
    return {
        "X-Platform-User-Data": json.dumps(
            {
                "username": user.username,
                "email": user.email,
                "name": user.name,
                "groups": groups,
                "roles": sorted(user.roles),
            }
        ),
        "X-Platform-Credentials": json.dumps({"user": user.username, "groups": groups}),
    }


def _decide(method: str, path: str, content_type: str) -> tuple[Decision, User | None, str]:
    slug = slug_of(path)
    user = current_user()
    decision = decide(
        user,
        registry.get_app(slug),
        slug=slug,
        method=method,
        path=path,
        content_type=content_type,
        csrf_sent=request.headers.get("X-CSRF-Token"),
        csrf_expected=session_csrf_token() if user else None,
    )
    return decision, user, slug


_last_marked: dict[str, float] = {}


def _mark_used(slug: str) -> None:
    """Note that ``slug`` is in use (scale to zero), at most once a second per process."""
    now = time.monotonic()
    if now - _last_marked.get(slug, 0.0) >= 1.0:
        _last_marked[slug] = now
        services().hosting.idle.touch(slug)


@bp.get("/_frontdoor/auth")
def auth() -> Response:
    """nginx's auth_request: 200 plus identity headers, or 401/403 (rendered by :func:`refused`)."""
    path = urlsplit(request.headers.get("X-Original-URI", "")).path
    decision, user, slug = _decide(
        request.headers.get("X-Original-Method", "GET"),
        path,
        request.headers.get("X-Original-Content-Type", ""),
    )
    if not decision.allowed:
        return Response(status=401 if decision.status == 401 else 403)
    if request.headers.get("X-Page-Load") == "1":
        registry.record_view(slug, user.username if user else None)
    _mark_used(slug)
    response = Response(status=200)
    if user is not None:
        response.headers.update(identity_headers(user))
    return response


@bp.route("/apps/<slug>/", defaults={"rest": ""}, methods=ANY_METHOD)
@bp.route("/apps/<slug>/<path:rest>", methods=ANY_METHOD)
def refused(slug: str, rest: str) -> Response:
    """The answer to a request the front door did not pass to an app."""
    decision, _, _ = _decide(request.method, request.path, request.content_type or "")
    if decision.status == 401:
        return anonymous_answer()
    if not decision.allowed:
        raise ApiError(decision.status, decision.message)
    if _reached_the_app(request.headers.get("X-Frontdoor-Upstream-Sent", "")):
        # The app took the request and died (or hung up) answering it. Sending it again
        # could crash it again: the caller decides whether to retry.
        raise ApiError(502, f"The app {slug!r} stopped while answering this request.")
    # Allowed, yet here: the app is not answering. Asleep (scale to zero): wake it; a page
    # shows "starting", anything else waits and is sent again (307 keeps method and body).
    page = request.method == "GET" and "text/html" in request.headers.get("Accept", "")
    state = wake(slug, timeout=0.5 if page else WAKE_WAIT)
    if state == "ready":
        return Response(status=307, headers={"Location": request.full_path.rstrip("?")})
    if state == "starting" and page:
        html = render_template("starting.html", slug=slug)
        return Response(html, status=503, headers={"Retry-After": "1"})
    raise ApiError(503, f"The app {slug!r} is not running right now. Try again in a moment.")


def _reached_the_app(upstream_bytes_sent: str) -> bool:
    """Whether nginx's ``$upstream_bytes_sent`` ("0", "146", "0, 146": one per attempt)
    says any of the request reached the app."""
    return any(part.strip() not in ("", "0", "-") for part in upstream_bytes_sent.split(","))


@bp.get("/apps/<slug>")
def without_slash(slug: str) -> Response:
    """``/apps/sales`` → ``/apps/sales/``: where Dash serves the app."""
    if not SLUG.match(slug):
        raise ApiError(404, "No such app.")
    return Response(status=308, headers={"Location": f"/apps/{slug}/"})
