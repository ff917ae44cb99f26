"""The baseline for bench_guard.py: the same trivial Dash callback, served with no auth."""

from __future__ import annotations

import dash
from dash import Input, Output, html
from flask import Flask

server = Flask(__name__)
app = dash.Dash(__name__, server=server, url_base_pathname="/apps/hello/")
app.layout = html.Div([html.Button(id="whoami-button"), html.P(id="whoami")])


@app.callback(Output("whoami", "children"), Input("whoami-button", "n_clicks"))
def whoami(n_clicks: int | None) -> str:
    return "The server says you are bench." if n_clicks else ""
