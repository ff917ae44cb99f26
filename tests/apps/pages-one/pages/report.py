import dash
from dash import Input, Output, callback, dcc, html

dash.register_page(__name__, path="/report", name="Report", title="Pages One: report")

QUARTERS = {"Q1": 120, "Q2": 135, "Q3": 150, "Q4": 170}

layout = html.Div(
    [
        html.H2("Pages One quarterly report", id="p1-report-heading"),
        dcc.Dropdown(id="p1-report-quarter", options=list(QUARTERS), value="Q1"),
        html.Div(id="p1-report-output"),
    ]
)


@callback(Output("p1-report-output", "children"), Input("p1-report-quarter", "value"))
def show_quarter(quarter):
    return f"pages-one report: {quarter} revenue {QUARTERS.get(quarter, 0)}"
