"""The front-door bench's app: one button, one trivial callback (the app.py of a bundle).

bench_platform.py deploys this file as a bundle's app.py (requirements: dash only) and
serves the same code bare with the platform's gunicorn command. Dash reads its URL prefix
from DASH_ROUTES_PATHNAME_PREFIX / DASH_REQUESTS_PATHNAME_PREFIX, as on the platform.
"""

from __future__ import annotations

import json

import dash
from dash import Input, Output, html
from flask import request

app = dash.Dash(__name__)
server = app.server
app.layout = html.Div([html.Button(id="whoami-button"), html.P(id="whoami")])


@app.callback(Output("whoami", "children"), Input("whoami-button", "n_clicks"))
def whoami(n_clicks: int | None) -> str:
    """Who the front door says is calling ("nobody" when served bare)."""
    if not n_clicks:
        return ""
    user = json.loads(request.headers.get("Plotly-User-Data") or "{}")
    return f"The server says you are {user.get('username', 'nobody')}."
