"""Two callbacks registered with the global ``dash.callback`` decorator, not ``app.callback``."""

from dash import Dash, Input, Output, callback, dcc, html

app = Dash(__name__)
app.title = "Global callback"
app.layout = html.Div(
    [
        html.H1("Global callback app", id="gc-title", className="gc-title"),
        dcc.Input(id="gc-name", value="world"),
        html.Div(id="gc-greeting"),
        dcc.Input(id="gc-number", type="number", value=3),
        html.Div(id="gc-square"),
    ]
)


@callback(Output("gc-greeting", "children"), Input("gc-name", "value"))
def greet(name):
    return f"Hello, {name}! (global-callback)"


@callback(Output("gc-square", "children"), Input("gc-number", "value"))
def square(number):
    if number is None:
        return "Type a number"
    return f"{number} squared is {number * number}"


if __name__ == "__main__":
    app.run()
