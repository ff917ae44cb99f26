"""The security headers of every portal answer: pages, API, refusals, static files.

The portal's pages are its own templates with no inline script or style attribute, so
its Content-Security-Policy allows scripts, styles and images from the portal only
(thumbnails are uploads the portal serves: ``img-src 'self'``). No portal page may be
framed (``frame-ancestors 'none'``, and ``X-Frame-Options`` for older browsers): the
Admin and App Manager forms carry CSRF tokens, so framing them would allow clickjacking.
Apps get their own, looser headers from the front door (portal/hosting/frontdoor.py).

Answers that name a view's own caching (static files, thumbnails) keep it; every other
answer is ``Cache-Control: no-store``: pages and API answers carry who is signed in and
what they may see, which no browser or proxy cache should keep.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response

from portal.services import services
from portal.settings import Settings

__all__ = ["content_security_policy", "init_app"]

#: Headers every portal answer carries.
FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """The portal's policy. Forms may also go to Keycloak: signing out posts to /logout,
    which redirects to Keycloak's end-session page (browsers check that redirect too)."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        # Plotly draws its charts with style attributes it sets itself.
        "style-src": "'self' 'unsafe-inline'",
        "img-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": f"'self' {_origin(settings.keycloak_url)}",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def _add_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in FIXED_HEADERS.items():
        headers.setdefault(name, value)
    headers.setdefault("Content-Security-Policy", content_security_policy(services().settings))
    if "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
