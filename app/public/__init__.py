"""Public: an Unauthenticated app anyone can open, signed in or not."""

from __future__ import annotations

import dash
import plotly.graph_objects as go
from dash import Input, Output, dcc, html
from flask import Flask

from portal import appkit
from portal.settings import Settings

TITLE = "Public demo"
DESCRIPTION = "An app open to everyone, signed in or not."


def _layout() -> html.Div:
    who = appkit.get_username()
    return html.Div(
        [
            html.H1("Public demo"),
            html.P(f"Signed in as {who}." if who else "You are not signed in."),
            dcc.Slider(id="growth", min=1, max=10, step=1, value=3),
            dcc.Graph(id="curve"),
        ],
        style={"fontFamily": "system-ui, sans-serif", "maxWidth": "48rem", "margin": "2rem auto"},
    )


def create_app(*, server: Flask, url_base_pathname: str, settings: Settings) -> dash.Dash:
    app = dash.Dash(__name__, server=server, url_base_pathname=url_base_pathname, title=TITLE)
    app.layout = _layout

    @app.callback(Output("curve", "figure"), Input("growth", "value"))
    def curve(growth: int) -> go.Figure:
        xs = list(range(13))
        return go.Figure(go.Scatter(x=xs, y=[(1 + growth / 100) ** x for x in xs]))

    return app
