"""``<prefix>export.csv``: the rows the caller may see, narrowed by the query's filters.

Query parameters: ``date_from``, ``date_to`` (YYYY-MM-DD; all dates when absent),
``product`` and ``salesman`` (repeatable; they only narrow), ``view_as`` (admins only,
audited). Anything else (``region=``...) is ignored. Anonymous callers get 401 and no data.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from flask import Flask, Response, request

from .queries import Filters

if TYPE_CHECKING:
    from . import SalesContext

__all__ = ["register"]


def register(server: Flask, ctx: SalesContext, *, route: str) -> None:
    """Serve the export at ``route`` (the app's routes prefix + ``export.csv``)."""

    def export_csv() -> Response:
        scope = ctx.view_as.scope(request.args.get("view_as"), via="export")
        if scope is None:
            return Response("Sign in to export sales data.\n", 401, mimetype="text/plain")
        filters = Filters.parse(
            request.args.get("date_from"),
            request.args.get("date_to"),
            request.args.getlist("product"),
            request.args.getlist("salesman"),
        ).resolve(ctx.engine.start, ctx.engine.end, default_days=None)
        allowed = filters.narrow(scope.allowed)
        name = f"sales-{filters.date_from}-{filters.date_to}-{dt.date.today():%Y%m%d}.csv"
        return Response(
            ctx.engine.iter_csv(allowed, filters),  # needs nothing from the request
            mimetype="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "private, no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    server.add_url_rule(route, endpoint="sales_export", view_func=export_csv)
