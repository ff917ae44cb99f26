import dash
from dash import Input, Output, callback, dcc, html

dash.register_page(__name__, path="/report", name="Inventory", title="Pages Two: inventory")

STOCK = {"apples": 12, "pears": 7, "plums": 0}

layout = html.Div(
    [
        html.H2("Pages Two inventory report", id="p2-report-heading"),
        dcc.RadioItems(id="p2-report-fruit", options=list(STOCK), value="apples"),
        html.Div(id="p2-report-output"),
    ]
)


@callback(Output("p2-report-output", "children"), Input("p2-report-fruit", "value"))
def show_stock(fruit):
    return f"pages-two inventory: {STOCK.get(fruit, 0)} {fruit} in stock"
