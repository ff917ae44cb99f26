import dash
from dash import Input, Output, callback, dcc, html

dash.register_page(__name__, path="/", name="Start", title="Pages Two: start")

layout = html.Div(
    [
        html.H2("Pages Two start page", id="p2-start-heading"),
        dcc.Input(id="p2-start-input", value="hello"),
        html.Div(id="p2-start-output"),
        dcc.Link("Go to the inventory report", href=dash.get_relative_path("/report")),
    ]
)


@callback(Output("p2-start-output", "children"), Input("p2-start-input", "value"))
def whisper(value):
    return f"pages-two start whispers {str(value).lower()}"
