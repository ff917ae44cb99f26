"""dash_appkit.csp: a strict policy a Dash app may opt into, with Dash's inline scripts
allowed by their hashes (issue 12). The browser side is tests/browser and
tests/integration/test_security_headers_live.py: the built-in apps run under it."""

from __future__ import annotations

import base64
import hashlib
import re

import dash
from dash import Input, Output, html
from dash_appkit import csp
from werkzeug.test import Client

INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", re.S
)


def _app() -> dash.Dash:
    app = dash.Dash(__name__)
    app.layout = html.Div([html.Button(id="b"), html.P(id="out")])
    app.clientside_callback(
        "function (n) { return 'clicked ' + n; }", Output("out", "children"), Input("b", "n_clicks")
    )
    return app


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (p.split() for p in policy.split(";") if p.strip())
    return {name: values for name, *values in parts}


def test_every_inline_script_of_the_page_is_allowed_by_its_hash_and_nothing_else_is() -> None:
    app = _app()
    csp.protect(app)
    page = Client(app.server).get("/")
    policy = _directives(page.headers["Content-Security-Policy"])
    html_text = page.get_data(as_text=True)
    inline = [s for s in INLINE_SCRIPT.findall(html_text) if "alert(" not in s]  # IE comment
    assert len(inline) >= 2  # the clientside callback and the renderer's start
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"], script[:60]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["frame-ancestors"] == ["'self'"] and policy["object-src"] == ["'none'"]
    # Every answer carries it, JSON included.
    assert "Content-Security-Policy" in Client(app.server).get("/_dash-layout").headers


def test_directives_add_to_or_replace_the_defaults() -> None:
    app = _app()
    csp.protect(app, {"img-src": "'self' https://tiles.example", "frame-ancestors": "'none'"})
    policy = _directives(Client(app.server).get("/").headers["Content-Security-Policy"])
    assert policy["img-src"] == ["'self'", "https://tiles.example"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
