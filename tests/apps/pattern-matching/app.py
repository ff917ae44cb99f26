"""Items added on the fly, wired up with pattern-matching (MATCH and ALL) callbacks."""

from dash import ALL, MATCH, Dash, Input, Output, State, dcc, html

app = Dash(__name__)
app.title = "Pattern matching"
app.layout = html.Div(
    [
        html.H1("Pattern-matching callbacks"),
        html.Button("Add an item", id="pm-add"),
        html.Div(id="pm-items", children=[]),
        html.Div(id="pm-total"),
    ]
)


@app.callback(
    Output("pm-items", "children"),
    Input("pm-add", "n_clicks"),
    State("pm-items", "children"),
    prevent_initial_call=True,
)
def add_item(n_clicks, children):
    item = html.Div(
        [
            dcc.Input(id={"type": "pm-input", "index": n_clicks}, value=f"item {n_clicks}"),
            html.Div(id={"type": "pm-echo", "index": n_clicks}),
        ]
    )
    return [*(children or []), item]


@app.callback(
    Output({"type": "pm-echo", "index": MATCH}, "children"),
    Input({"type": "pm-input", "index": MATCH}, "value"),
    State({"type": "pm-input", "index": MATCH}, "id"),
)
def echo(value, component_id):
    return f"item #{component_id['index']} reads {value!r}"


@app.callback(Output("pm-total", "children"), Input({"type": "pm-input", "index": ALL}, "value"))
def total(values):
    return f"{len(values)} items: " + " | ".join(str(value) for value in values)


if __name__ == "__main__":
    app.run()
