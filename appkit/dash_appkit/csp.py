"""A strict Content-Security-Policy for a Dash app that asks for one.

The platform forces no policy on an app beyond framing (an unmodified app may load a
stylesheet from a CDN). An app that wants the browser to run only its own code calls::

    dash_appkit.csp.protect(app)

Scripts then come only from the app's origin, plus Dash's inline scripts (the renderer's
start, clientside callbacks) by the hashes Dash computes for them (``Dash.csp_hashes``),
once every callback is defined: at the first answer. Styles may be inline: Dash's
components and Plotly set style attributes. ``directives`` add to or replace the
defaults (for example ``{"img-src": "'self' data: https://tiles.example"}``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dash
    from flask import Response

__all__ = ["DEFAULT_DIRECTIVES", "protect"]

DEFAULT_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-inline'",
    # Plotly's images (modebar downloads) and fonts come as data: URLs.
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'self'",
}


def protect(app: dash.Dash, directives: dict[str, str] | None = None) -> None:
    """Send a strict Content-Security-Policy with every answer of ``app``."""
    chosen = {**DEFAULT_DIRECTIVES, **(directives or {})}
    policy: list[str] = []  # computed once, at the first answer
    lock = threading.Lock()

    def add_policy(response: Response) -> Response:
        if not policy:
            with lock:
                if not policy:
                    scripts = " ".join([chosen["script-src"], *app.csp_hashes()])
                    parts = {**chosen, "script-src": scripts}
                    policy.append("; ".join(f"{k} {v}" for k, v in parts.items()))
        response.headers.setdefault("Content-Security-Policy", policy[0])
        return response

    app.server.after_request(add_policy)
