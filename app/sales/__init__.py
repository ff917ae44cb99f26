"""Sales: the team's revenue, deals and customers, with row-level security.

Who sees which rows is :data:`app.sales.policy.SALES_POLICY` (a :class:`portal.rls.RowPolicy`),
evaluated on the server from the verified identity in every callback and in the CSV export.

Backends (``settings.extra["sales_backend"]`` or ``SALES_BACKEND``): ``memory`` (default:
the parquet file loaded once per process, with indexes), ``duckdb`` (SQL over the same
file) or ``postgres`` (``SALES_DATABASE_URL``, a table ``sales`` with the same columns).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import dash
from flask import Flask

from portal.settings import Settings

from . import callbacks, data, export, layout
from .memory import MemoryEngine
from .policy import ViewAs

__all__ = ["DESCRIPTION", "TITLE", "SalesContext", "create_app", "make_engine"]

TITLE = "Sales"
DESCRIPTION = "Revenue, deals and customers of the sales team: each person sees their own rows."


@dataclass(frozen=True)
class SalesContext:
    """What the layout, the callbacks and the export share."""

    engine: Any  # MemoryEngine or SqlEngine: the same questions, the same answers
    view_as: ViewAs
    prefix: str
    page_size: int = layout.PAGE_SIZE


def _setting(settings: Settings, name: str, default: str = "") -> str:
    return str(settings.extra.get(name) or os.environ.get(name.upper(), default))


def make_engine(settings: Settings) -> Any:
    """The query engine the settings ask for; the data is generated on first use."""
    backend = _setting(settings, "sales_backend", "memory").lower()
    if backend == "postgres":
        from .sql import SqlEngine

        return SqlEngine.postgres(_setting(settings, "sales_database_url"))
    if backend == "duckdb":
        from .sql import SqlEngine

        return SqlEngine.duckdb(data.ensure(settings.data_dir, settings.sales_rows))
    if backend != "memory":
        raise ValueError(f"unknown sales backend {backend!r}")
    return MemoryEngine.for_data(data.load(settings.data_dir, settings.sales_rows))


def create_app(*, server: Flask, url_base_pathname: str, settings: Settings) -> dash.Dash:
    """The sales Dash app on the platform's shared ``server`` under ``url_base_pathname``."""
    engine = make_engine(settings)
    ctx = SalesContext(engine=engine, view_as=ViewAs(engine.region_of), prefix=url_base_pathname)
    app = dash.Dash(
        __name__,
        server=server,
        url_base_pathname=url_base_pathname,
        title=TITLE,
        update_title=None,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.layout = functools.partial(layout.build, ctx)
    callbacks.register(app, ctx)
    export.register(server, ctx)
    return app
