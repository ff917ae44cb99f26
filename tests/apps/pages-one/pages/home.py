import dash
from dash import Input, Output, callback, dcc, html

dash.register_page(__name__, path="/", name="Home", title="Pages One: home")

layout = html.Div(
    [
        html.H2("Pages One home page", id="p1-home-heading"),
        dcc.Input(id="p1-home-input", value="hello"),
        html.Div(id="p1-home-output"),
    ]
)


@callback(Output("p1-home-output", "children"), Input("p1-home-input", "value"))
def shout(value):
    return f"pages-one home shouts {str(value).upper()}"
