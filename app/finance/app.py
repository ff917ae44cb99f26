"""Finance: a Restricted app for the /finance group (owned by erin).

A bundle: the platform runs it with gunicorn (``dash_appkit.serve:application``), and
``python app.py`` runs it locally.
"""

from __future__ import annotations

import dash
import dash_appkit
import dash_appkit.csp
from dash import dash_table, html

TITLE = "Finance"
DESCRIPTION = "Quarterly budgets by department, for the finance team."

BUDGETS = [
    {"department": dept, "quarter": f"Q{q}", "budget": base * q}
    for dept, base in (("Sales", 120_000), ("Engineering", 300_000), ("Operations", 80_000))
    for q in range(1, 5)
]


def layout() -> html.Div:
    """The budgets table, with who is looking."""
    return html.Div(
        [
            html.H1("Finance"),
            html.P(f"Signed in as {dash_appkit.get_username()}."),
            dash_table.DataTable(
                data=BUDGETS,
                columns=[{"name": c.title(), "id": c} for c in ("department", "quarter", "budget")],
                sort_action="native",
            ),
        ],
        style={"fontFamily": "system-ui, sans-serif", "maxWidth": "48rem", "margin": "2rem auto"},
    )


app = dash.Dash(__name__, title=TITLE)
# The platform's own apps run only their own scripts (dash_appkit.csp).
dash_appkit.csp.protect(app)
app.layout = layout


if __name__ == "__main__":
    app.run(debug=True)
