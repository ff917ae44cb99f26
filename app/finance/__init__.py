"""Finance: a Restricted app for the /finance group (owned by erin)."""

from __future__ import annotations

import dash
from dash import dash_table, html
from flask import Flask

from portal import appkit
from portal.settings import Settings

TITLE = "Finance"
DESCRIPTION = "Quarterly budgets by department, for the finance team."

BUDGETS = [
    {"department": dept, "quarter": f"Q{q}", "budget": base * q}
    for dept, base in (("Sales", 120_000), ("Engineering", 300_000), ("Operations", 80_000))
    for q in range(1, 5)
]


def _layout() -> html.Div:
    return html.Div(
        [
            html.H1("Finance"),
            html.P(f"Signed in as {appkit.get_username()}."),
            dash_table.DataTable(
                data=BUDGETS,
                columns=[{"name": c.title(), "id": c} for c in ("department", "quarter", "budget")],
                sort_action="native",
            ),
        ],
        style={"fontFamily": "system-ui, sans-serif", "maxWidth": "48rem", "margin": "2rem auto"},
    )


def create_app(*, server: Flask, url_base_pathname: str, settings: Settings) -> dash.Dash:
    app = dash.Dash(__name__, server=server, url_base_pathname=url_base_pathname, title=TITLE)
    app.layout = _layout
    return app
