"""Holds on to as many megabytes as it is asked for, to go past a memory limit."""

import dash
from dash import Input, Output, dcc, html

HELD: list[bytes] = []

app = dash.Dash(__name__)
app.layout = html.Div(
    [dcc.Input(id="mh-megabytes", type="number", value=0), html.Div(id="mh-held")]
)


@app.callback(Output("mh-held", "children"), Input("mh-megabytes", "value"))
def hold(megabytes):
    if megabytes:
        HELD.append(b"x" * (int(megabytes) * 1024 * 1024))  # written, so resident
    return f"holding {sum(len(b) for b in HELD) >> 20} MB"


if __name__ == "__main__":
    app.run(debug=True)
