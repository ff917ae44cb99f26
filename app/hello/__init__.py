"""Hello: the smallest app that reads the identity the platform verified."""

from __future__ import annotations

import dash
from dash import Input, Output, html
from flask import Flask

from portal import appkit
from portal.settings import Settings

TITLE = "Hello"
DESCRIPTION = "Shows who you are signed in as: username, roles and groups."


def _layout() -> html.Div:
    user = appkit.current_user()
    if user is None:  # the guard keeps anonymous callers out; stay safe regardless
        return html.Div("Not signed in.")
    return html.Div(
        [
            html.H1(f"Hello, {user.name or user.username}"),
            html.P(["Username: ", html.Code(user.username)]),
            html.P(["Roles: ", html.Code(", ".join(sorted(user.roles)) or "none")]),
            html.P(["Groups: ", html.Code(", ".join(sorted(user.groups)) or "none")]),
            html.Button("Ask the server who I am", id="whoami-button"),
            html.P(id="whoami"),
            appkit.create_logout_button(),
        ],
        style={"fontFamily": "system-ui, sans-serif", "maxWidth": "40rem", "margin": "2rem auto"},
    )


def create_app(*, server: Flask, url_base_pathname: str, settings: Settings) -> dash.Dash:
    app = dash.Dash(__name__, server=server, url_base_pathname=url_base_pathname, title=TITLE)
    app.layout = _layout

    @app.callback(Output("whoami", "children"), Input("whoami-button", "n_clicks"))
    def whoami(n_clicks: int | None) -> str:
        # The answer comes from the verified session, whatever the browser sent.
        return f"The server says you are {appkit.get_username()}." if n_clicks else ""

    return app
