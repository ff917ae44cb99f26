"""An app with a callback that kills its own process, and a harmless one."""

import os

from dash import Dash, Input, Output, dcc, html

app = Dash(__name__)
app.title = "Crashy"
app.layout = html.Div(
    [
        html.H1("Crashy"),
        html.Button("Crash the server", id="crash-button"),
        html.Div(id="crash-status"),
        dcc.Input(id="crash-input", value="ping"),
        html.Div(id="crash-echo"),
    ]
)


@app.callback(
    Output("crash-status", "children"),
    Input("crash-button", "n_clicks"),
    prevent_initial_call=True,
)
def crash(n_clicks):
    os._exit(1)


@app.callback(Output("crash-echo", "children"), Input("crash-input", "value"))
def echo(value):
    return f"still alive: {value} (pid {os.getpid()})"


if __name__ == "__main__":
    app.run()
