"""A Dash 1.x-era app: the separate component packages and dash.dependencies."""

import dash
import dash_core_components as dcc
import dash_html_components as html
from dash.dependencies import Input, Output, State

external_stylesheets = []

app = dash.Dash(__name__, external_stylesheets=external_stylesheets)
server = app.server

CITIES = {"MTL": "Montreal", "SF": "San Francisco", "NYC": "New York City"}

app.layout = html.Div(
    children=[
        html.H1(children="Dash 1 style app", id="d1-title"),
        html.Div(children=f"Running on dash {dash.__version__}", id="d1-version"),
        dcc.Dropdown(
            id="d1-city",
            options=[{"label": name, "value": code} for code, name in CITIES.items()],
            value="MTL",
        ),
        dcc.Input(id="d1-suffix", value="!"),
        html.Div(id="d1-output"),
    ]
)


@app.callback(
    Output("d1-output", "children"),
    [Input("d1-city", "value")],
    [State("d1-suffix", "value")],
)
def update_output(city, suffix):
    return "You have selected {}{}".format(CITIES.get(city, "nothing"), suffix or "")


if __name__ == "__main__":
    app.run_server(debug=True)
