"""An app written for Dash Enterprise: the signed-in user from dash-enterprise-auth."""

import json

import dash_enterprise_auth as auth
import flask
from dash import Dash, Input, Output, callback, html

app = Dash(__name__)
app.title = "Who am I (Dash Enterprise)"


def layout():
    # Dash also builds the layout once at start-up to validate it, outside any request.
    if flask.has_request_context():
        username, user_data = auth.get_username(), auth.get_user_data()
    else:
        username, user_data = None, {}
    return html.Div(
        [
            html.H1("Who am I (dash-enterprise-auth)"),
            html.Div(f"Signed in as {username}", id="dea-username"),
            html.Pre(json.dumps(user_data, sort_keys=True), id="dea-user-data"),
            html.Button("Ask the server", id="dea-ask"),
            html.Pre(id="dea-callback-user"),
        ]
    )


app.layout = layout


@callback(Output("dea-callback-user", "children"), Input("dea-ask", "n_clicks"))
def whoami(n_clicks):
    data = auth.get_user_data()
    answer = {
        "username": auth.get_username(),
        "email": data.get("email"),
        "groups": data.get("groups", []),
        "roles": data.get("roles", []),
        "clicks": n_clicks,
    }
    return json.dumps(answer, sort_keys=True)


if __name__ == "__main__":
    app.run()
