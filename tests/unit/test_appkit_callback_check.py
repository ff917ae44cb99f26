"""Every Dash app the platform serves answers a malformed callback body with 400, not 500."""

from __future__ import annotations

import dash
import pytest
from dash import Input, Output, State, html
from dash_appkit import callback_check


@pytest.fixture(scope="module")
def client():
    app = dash.Dash(__name__)
    app.layout = html.Div([html.Button(id="b"), html.Div(id="out"), html.Div(id="s")])

    @app.callback(Output("out", "children"), Input("b", "n_clicks"), State("s", "children"))
    def echo(clicks, state):
        return f"{clicks}:{state}"

    callback_check.install(app)
    return app.server.test_client()


GOOD = {
    "output": "out.children",
    "outputs": {"id": "out", "property": "children"},
    "inputs": [{"id": "b", "property": "n_clicks", "value": 2}],
    "state": [{"id": "s", "property": "children", "value": "x"}],
    "changedPropIds": ["b.n_clicks"],
}


def test_a_good_call_reaches_dash(client) -> None:
    answer = client.post("/_dash-update-component", json=GOOD)
    assert answer.status_code == 200
    assert answer.json["response"]["out"]["children"] == "2:x"


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {**GOOD, "output": "nope.children"},
        {**GOOD, "outputs": [1]},
        {**GOOD, "inputs": {"id": "b"}},
        {**GOOD, "state": [*GOOD["state"], {"id": "user", "property": "data", "value": "admin"}]},
        {**GOOD, "inputs": []},
        {**GOOD, "changedPropIds": "b.n_clicks"},
        {**GOOD, "changedPropIds": [1]},
    ],
)
def test_malformed_calls_get_400(client, body) -> None:
    answer = client.post("/_dash-update-component", json=body)
    assert answer.status_code == 400
    assert answer.json["error"].startswith("Malformed callback request")


def test_a_body_that_is_not_json_gets_400(client) -> None:
    answer = client.post("/_dash-update-component", data=b"{", content_type="application/json")
    assert answer.status_code == 400
