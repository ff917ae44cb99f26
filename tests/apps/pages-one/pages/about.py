import dash
from dash import Input, Output, callback, html

dash.register_page(__name__, path="/about", name="About", title="Pages One: about")

layout = html.Div(
    [
        html.H2("About Pages One", id="p1-about-heading"),
        html.Button("Count", id="p1-about-button"),
        html.Div(id="p1-about-output"),
    ]
)


@callback(Output("p1-about-output", "children"), Input("p1-about-button", "n_clicks"))
def count(n_clicks):
    return f"pages-one about clicked {n_clicks or 0} times"
