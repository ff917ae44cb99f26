"""The page: header with whose data is shown, filters, KPIs, charts and the table.

The layout is a function, built for the signed-in person on each page load (the view-as
picker only for admins, the salesman filter only with the salesmen in their scope). What it
offers is a convenience: every callback re-derives the rows from the identity on the server.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from dash import dash_table, dcc, html
from dash_appkit.identity import current_user

from .data import COLUMNS
from .policy import may_view_as_others, view_as_choices

if TYPE_CHECKING:
    from . import SalesContext

__all__ = ["EMPTY_FIGURE", "GRAPH_CONFIG", "PAGE_SIZE", "build"]

PAGE_SIZE = 20
FONT = "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
GRAPH_CONFIG = {"displayModeBar": False, "responsive": True}
EMPTY_FIGURE: dict = {"data": [], "layout": {"template": None}}

_TABLE_COLUMNS = [
    {"name": "Date", "id": "date"},
    {"name": "Region", "id": "region"},
    {"name": "Salesman", "id": "salesman"},
    {"name": "Customer", "id": "customer"},
    {"name": "Product", "id": "product"},
    {"name": "Units", "id": "units", "type": "numeric"},
    {
        "name": "Amount",
        "id": "amount",
        "type": "numeric",
        "format": {"specifier": "$,.2f"},
    },
]
assert [c["id"] for c in _TABLE_COLUMNS] == list(COLUMNS)


def _options(values: list[str] | tuple[str, ...]) -> list[dict[str, str]]:
    return [{"label": v, "value": v} for v in values]


def _card(title: str, graph_id: str, wide: bool = False) -> html.Section:
    return html.Section(
        [
            html.H2(title),
            dcc.Graph(
                id=graph_id, figure=EMPTY_FIGURE, config=GRAPH_CONFIG, style={"height": "300px"}
            ),
        ],
        className="sales-card wide" if wide else "sales-card",
    )


def build(ctx: SalesContext) -> html.Div:
    """The layout for whoever is asking (anonymous: the bare structure, no data)."""
    user = current_user()
    scope = ctx.view_as.scope() if user else None
    is_admin = may_view_as_others(user)
    salesmen = ctx.engine.salesmen(scope.allowed) if scope and not scope.allowed.is_none else []
    start = max(ctx.engine.start, ctx.engine.end - dt.timedelta(days=364))
    return html.Div(
        [
            html.Header(
                [
                    html.Div(
                        [
                            html.A("← Portal", href="/", className="sales-back"),
                            html.H1("Sales"),
                        ],
                        className="sales-title",
                    ),
                    html.Div(
                        [
                            html.Div(id="scope-banner", className="scope-banner"),
                            html.Div(id="scope-detail", className="scope-detail"),
                        ],
                        className="scope",
                        role="status",
                    ),
                ],
                className="sales-header",
            ),
            html.Div(
                [
                    html.Label(
                        [
                            html.Span("Dates"),
                            dcc.DatePickerRange(
                                id="date-range",
                                min_date_allowed=ctx.engine.start,
                                max_date_allowed=ctx.engine.end,
                                start_date=start,
                                end_date=ctx.engine.end,
                                display_format="YYYY-MM-DD",
                                first_day_of_week=1,
                            ),
                        ],
                        className="control",
                    ),
                    html.Label(
                        [
                            html.Span("Products"),
                            dcc.Dropdown(
                                id="product",
                                options=_options(ctx.engine.products),
                                multi=True,
                                placeholder="All products",
                            ),
                        ],
                        className="control grow",
                    ),
                    html.Label(
                        [
                            html.Span("Salesmen"),
                            dcc.Dropdown(
                                id="salesman",
                                options=_options(salesmen),
                                multi=True,
                                placeholder="All in scope",
                            ),
                        ],
                        className="control grow",
                        hidden=len(salesmen) <= 1,
                    ),
                    html.Label(
                        [
                            html.Span("View as"),
                            dcc.Dropdown(
                                id="view-as",
                                options=view_as_choices(ctx.engine.region_of) if is_admin else [],
                                placeholder="Myself",
                            ),
                        ],
                        className="control grow view-as",
                        hidden=not is_admin,
                    ),
                    html.A(
                        "Download CSV",
                        id="export-link",
                        href=ctx.prefix + "export.csv",
                        className="sales-button",
                    ),
                ],
                className="sales-controls",
                hidden=scope is not None and scope.allowed.is_none,  # nothing to filter
            ),
            html.Div(id="no-access", className="sales-empty", hidden=True),
            html.Main(
                [
                    html.Div(id="kpis", className="sales-kpis"),
                    html.Div(
                        [
                            _card("Revenue over time", "revenue-time", wide=True),
                            _card("Revenue by product", "revenue-product"),
                            _card("Top customers", "revenue-customer"),
                        ],
                        className="sales-grid",
                    ),
                    html.Section(
                        [
                            html.H2("Deals"),
                            dash_table.DataTable(
                                id="table",
                                columns=_TABLE_COLUMNS,
                                data=[],
                                page_action="custom",
                                page_current=0,
                                page_size=PAGE_SIZE,
                                page_count=1,
                                sort_action="custom",
                                sort_mode="single",
                                sort_by=[],
                                style_as_list_view=True,
                                style_table={"overflowX": "auto"},
                                style_cell={
                                    "fontFamily": FONT,
                                    "fontSize": "14px",
                                    "padding": "8px 10px",
                                    "textAlign": "left",
                                    "border": "none",
                                    "borderBottom": "1px solid #e5e7eb",
                                },
                                style_cell_conditional=[
                                    {"if": {"column_id": c}, "textAlign": "right"}
                                    for c in ("units", "amount")
                                ],
                                style_header={
                                    "fontWeight": "600",
                                    "backgroundColor": "#f8fafc",
                                    "color": "#334155",
                                },
                            ),
                        ],
                        className="sales-card wide",
                    ),
                ],
                id="dashboard",
            ),
        ],
        className="sales-app",
    )
