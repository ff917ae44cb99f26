"""The callbacks. Each one derives the rows from the verified identity on the server.

Nothing the browser sends can widen them: the view-as value only counts for admins (and is
audited), the product and salesman filters only narrow the policy's rows, and a request
without a signed-in user gets nothing. Rendered results are cached per effective row set
(:attr:`AllowedRows.key`) and filters, never per username.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from dash import Input, Output, html
from dash import ctx as callback_context
from dash.exceptions import PreventUpdate
from dash_appkit.rls import AllowedRows

from .layout import EMPTY_FIGURE
from .policy import NO_ROWS_MESSAGE, Scope
from .queries import Filters, Summary

if TYPE_CHECKING:
    from dash import Dash

    from . import SalesContext

__all__ = ["register"]

REGION_COLORS = {"east": "#2563eb", "west": "#f59e0b", "north": "#10b981", "south": "#ef4444"}
_TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "Inter, system-ui, -apple-system, Segoe UI, sans-serif", "size": 13},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "colorway": list(REGION_COLORS.values()),
        "xaxis": {"gridcolor": "#eef2f7", "zeroline": False},
        "yaxis": {"gridcolor": "#eef2f7", "zeroline": False},
        "hoverlabel": {"font": {"family": "Inter, system-ui, sans-serif"}},
    }
)


def _money(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"${value / limit:,.2f}{suffix}"
    return f"${value:,.0f}"


def _kpi(title: str, value: str, now: float, before: float, days: int) -> html.Div:
    if before > 0:
        change = (now - before) / before * 100
        css = "up" if change >= 0 else "down"
        delta = f"{'▲' if change >= 0 else '▼'} {abs(change):.1f}% vs previous {days} days"
    else:
        css, delta = "flat", f"no data in the previous {days} days"
    return html.Div(
        [
            html.Div(title, className="kpi-title"),
            html.Div(value, className="kpi-value"),
            html.Div(delta, className=f"kpi-delta {css}"),
        ],
        className="sales-kpi",
    )


def _kpis(s: Summary) -> list[html.Div]:
    days = (s.filters.date_to - s.filters.date_from).days + 1
    avg, prev_avg = s.revenue / max(s.deals, 1), s.prev_revenue / max(s.prev_deals, 1)
    return [
        _kpi("Revenue", _money(s.revenue), s.revenue, s.prev_revenue, days),
        _kpi("Units", f"{s.units:,}", s.units, s.prev_units, days),
        _kpi("Deals", f"{s.deals:,}", s.deals, s.prev_deals, days),
        _kpi(
            "Average deal",
            _money(avg),
            avg if s.deals else 0,
            prev_avg if s.prev_deals else 0,
            days,
        ),
    ]


@functools.cache
def _layout(kind: str, bucket: str = "", legend: bool = False) -> dict:
    """A validated layout, built once per variant (figures share it; nobody mutates it)."""
    money = {"tickprefix": "$", "tickformat": "~s", "automargin": True}
    if kind == "time":
        extra: dict[str, Any] = {
            "showlegend": legend,
            "legend": {"orientation": "h", "y": 1.12, "x": 0, "title": {"text": f"per {bucket}"}},
            "yaxis": money,
            "xaxis": {"automargin": True},
            "hovermode": "x unified",
        }
    else:
        extra = {"xaxis": money, "yaxis": {"automargin": True}}
    layout = go.Layout(template=_TEMPLATE, height=300, margin={"l": 8, "r": 8, "t": 8, "b": 8})
    return layout.update(extra).to_plotly_json()


# Figures are plain dicts of validated graph_objects traces and a layout validated once:
# a go.Figure would copy and validate all of it again on every callback.
def _time_figure(s: Summary) -> dict:
    x = [d.isoformat() for d in s.x]
    stacked = len(s.series) > 1
    traces = [
        go.Scatter(
            x=x,
            y=values,
            name=region.capitalize(),
            mode="lines",
            line={"width": 2, "color": REGION_COLORS.get(region)},
            stackgroup="regions" if stacked else None,
            fill=None if stacked else "tozeroy",
            hovertemplate=f"{region.capitalize()}: %{{y:$,.0f}}<extra>{s.bucket} of %{{x}}</extra>",
        ).to_plotly_json()
        for region, values in s.series.items()
    ]
    layout = _layout("time", s.bucket, stacked)
    return {"data": traces, "layout": layout}


def _bar_figure(pairs: tuple[tuple[str, float], ...], color: str) -> dict:
    pairs = tuple(reversed(pairs))  # the largest at the top
    trace = go.Bar(
        x=[v for _, v in pairs],
        y=[name for name, _ in pairs],
        orientation="h",
        marker={"color": color},
        hovertemplate="%{y}: %{x:$,.0f}<extra></extra>",
    ).to_plotly_json()
    layout = _layout("bar")
    return {"data": [trace], "layout": layout}


def _banner_class(scope: Scope) -> str:
    return "scope-banner viewing-as" if scope.viewing_as else "scope-banner"


def register(app: Dash, ctx: SalesContext) -> None:
    """Add the app's callbacks to ``app`` (never to the global ``dash.callback``)."""
    engine = ctx.engine

    @functools.lru_cache(maxsize=256)
    def render(key: tuple, filters: Filters) -> tuple:
        """KPIs and figures of one row set and filters: safe to share between identities."""
        s = engine.summary(AllowedRows(key), filters)
        return (
            _kpis(s),
            _time_figure(s),
            _bar_figure(s.by_product, "#6366f1"),
            _bar_figure(s.top_customers, "#0ea5e9"),
        )

    def export_href(filters: Filters, view_as_value: str | None) -> str:
        query: list[tuple[str, str]] = [
            ("date_from", filters.date_from.isoformat()),
            ("date_to", filters.date_to.isoformat()),
        ]
        query += [("product", p) for p in filters.products]
        query += [("salesman", s) for s in filters.salesmen]
        if view_as_value:
            query.append(("view_as", view_as_value))
        return f"{ctx.prefix}export.csv?{urlencode(query)}"

    @app.callback(
        Output("salesman", "options"),
        Output("salesman", "value"),
        Input("view-as", "value"),
    )
    def salesman_options(view_as: Any) -> tuple[list, list]:
        scope = ctx.view_as.scope(view_as)
        if scope is None:
            raise PreventUpdate
        if scope.allowed.is_none:
            return [], []
        return [{"label": s, "value": s} for s in engine.salesmen(scope.allowed)], []

    @app.callback(
        Output("scope-banner", "children"),
        Output("scope-banner", "className"),
        Output("scope-detail", "children"),
        Output("no-access", "children"),
        Output("no-access", "hidden"),
        Output("dashboard", "hidden"),
        Output("kpis", "children"),
        Output("revenue-time", "figure"),
        Output("revenue-product", "figure"),
        Output("revenue-customer", "figure"),
        Output("export-link", "href"),
        Input("date-range", "start_date"),
        Input("date-range", "end_date"),
        Input("product", "value"),
        Input("salesman", "value"),
        Input("view-as", "value"),
    )
    def dashboard(date_from, date_to, products, salesmen, view_as) -> tuple:
        scope = ctx.view_as.scope(view_as)
        if scope is None:
            raise PreventUpdate  # the front door refuses anonymous callers; deny regardless
        if scope.allowed.is_none:
            empty = (EMPTY_FIGURE, EMPTY_FIGURE, EMPTY_FIGURE)
            message = [html.H2("No sales data for you"), html.P(NO_ROWS_MESSAGE)]
            return (
                scope.banner,
                _banner_class(scope),
                scope.detail,
                message,
                False,
                True,
                [],
                *empty,
                "#",
            )
        filters = Filters.parse(date_from, date_to, products, salesmen).resolve(
            engine.start, engine.end
        )
        allowed = filters.narrow(scope.allowed)
        kpis, time_fig, product_fig, customer_fig = render(allowed.key, filters)
        return (
            scope.banner,
            _banner_class(scope),
            scope.detail,
            [],
            True,
            False,
            kpis,
            time_fig,
            product_fig,
            customer_fig,
            export_href(filters, scope.view_as_value),
        )

    @app.callback(
        Output("table", "data"),
        Output("table", "page_count"),
        Output("table", "page_current"),
        Input("date-range", "start_date"),
        Input("date-range", "end_date"),
        Input("product", "value"),
        Input("salesman", "value"),
        Input("view-as", "value"),
        Input("table", "page_current"),
        Input("table", "sort_by"),
    )
    def table(date_from, date_to, products, salesmen, view_as, page, sort_by) -> tuple:
        scope = ctx.view_as.scope(view_as)
        if scope is None:
            raise PreventUpdate
        if scope.allowed.is_none:
            return [], 1, 0
        if "table.page_current" not in callback_context.triggered_prop_ids:
            page = 0  # new filters or a new sort order start at the first page
        filters = Filters.parse(date_from, date_to, products, salesmen)
        allowed = filters.narrow(scope.allowed)
        result = engine.page(
            allowed,
            filters,
            sort_by if isinstance(sort_by, list) else None,
            page if isinstance(page, int) else 0,
            ctx.page_size,
        )
        return result.records, result.page_count, result.page
