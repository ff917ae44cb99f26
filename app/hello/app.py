"""Hello: the smallest app that reads the identity the platform verified.

A bundle: the platform runs it with gunicorn (``dash_appkit.serve:application``), and
``python app.py`` runs it locally (where nobody is signed in).
"""

from __future__ import annotations

import dash
import dash_appkit
import dash_appkit.csp
from dash import Input, Output, html

TITLE = "Hello"
DESCRIPTION = "Shows who you are signed in as: username, roles and groups."


def layout() -> html.Div:
    """The page for whoever is asking, built on each page load."""
    user = dash_appkit.current_user()
    if user is None:  # the front door keeps anonymous callers out; stay safe regardless
        return html.Div("Not signed in.")
    return html.Div(
        [
            html.H1(f"Hello, {user.name or user.username}"),
            html.P(["Username: ", html.Code(user.username)]),
            html.P(["Roles: ", html.Code(", ".join(sorted(user.roles)) or "none")]),
            html.P(["Groups: ", html.Code(", ".join(sorted(user.groups)) or "none")]),
            html.Button("Ask the server who I am", id="whoami-button"),
            html.P(id="whoami"),
            dash_appkit.logout_link(),
        ],
        style={"fontFamily": "system-ui, sans-serif", "maxWidth": "40rem", "margin": "2rem auto"},
    )


app = dash.Dash(__name__, title=TITLE)
# The platform's own apps run only their own scripts (dash_appkit.csp).
dash_appkit.csp.protect(app)
app.layout = layout
# The components of the signed-in page exist only once someone is signed in.
app.validation_layout = html.Div(
    [html.Button(id="whoami-button"), html.P(id="whoami"), html.Div("Not signed in.")]
)


@app.callback(Output("whoami", "children"), Input("whoami-button", "n_clicks"))
def whoami(n_clicks: int | None) -> str:
    # The answer comes from the front door's header on this very request.
    return f"The server says you are {dash_appkit.get_username()}." if n_clicks else ""


if __name__ == "__main__":
    app.run(debug=True)
