"""Public: an Unauthenticated app anyone can open, signed in or not.

A bundle: the platform runs it with gunicorn (``dash_appkit.serve:application``), and
``python app.py`` runs it locally.
"""

from __future__ import annotations

import dash
import dash_appkit
import dash_appkit.csp
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

TITLE = "Public demo"
DESCRIPTION = "An app open to everyone, signed in or not."


def layout() -> html.Div:
    """The page, with the visitor's name when the front door says who they are."""
    who = dash_appkit.get_username()
    return html.Div(
        [
            html.H1("Public demo"),
            html.P(f"Signed in as {who}." if who else "You are not signed in."),
            dcc.Slider(id="growth", min=1, max=10, step=1, value=3),
            dcc.Graph(id="curve"),
        ],
        style={"fontFamily": "system-ui, sans-serif", "maxWidth": "48rem", "margin": "2rem auto"},
    )


app = dash.Dash(__name__, title=TITLE)
# The platform's own apps run only their own scripts (dash_appkit.csp).
dash_appkit.csp.protect(app)
app.layout = layout


@app.callback(Output("curve", "figure"), Input("growth", "value"))
def curve(growth: int) -> go.Figure:
    xs = list(range(13))
    return go.Figure(go.Scatter(x=xs, y=[(1 + growth / 100) ** x for x in xs]))


if __name__ == "__main__":
    app.run(debug=True)
