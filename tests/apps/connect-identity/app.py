"""An app written for Posit Connect: the user from the RStudio-Connect-Credentials header."""

import json

import flask
from dash import Dash, Input, Output, html

app = Dash(__name__)
app.title = "Who am I (Connect)"


def connect_user():
    """(user, groups) from the header Posit Connect sets, or (None, []) without it."""
    raw = flask.request.headers.get("RStudio-Connect-Credentials")
    if not raw:
        return None, []
    credentials = json.loads(raw)
    return credentials.get("user"), credentials.get("groups") or []


def layout():
    user, groups = connect_user() if flask.has_request_context() else (None, [])
    return html.Div(
        [
            html.H1("Who am I (Posit Connect style)"),
            html.Div(f"Hello {user}", id="ci-user"),
            html.Ul([html.Li(group) for group in groups], id="ci-groups"),
            html.Button("Ask the server", id="ci-ask"),
            html.Pre(id="ci-callback"),
        ]
    )


app.layout = layout


@app.callback(Output("ci-callback", "children"), Input("ci-ask", "n_clicks"))
def whoami(n_clicks):
    user, groups = connect_user()
    return json.dumps({"user": user, "groups": groups, "clicks": n_clicks}, sort_keys=True)


if __name__ == "__main__":
    app.run()
