"""Sales: the team's revenue, deals and customers, with row-level security.

Who sees which rows is :data:`salesapp.policy.SALES_POLICY` (a
:class:`dash_appkit.rls.RowPolicy`), evaluated on the server from the identity the
platform's front door hands the app, in every callback and in the CSV export.

Configuration comes from the environment (:class:`SalesConfig`): ``SALES_ROWS`` (default
1,000,000), ``SALES_BACKEND``: ``memory`` (default: the parquet file loaded once per
process, with indexes), ``duckdb`` (SQL over the same file) or ``postgres``
(``SALES_DATABASE_URL``, a table ``sales`` with the same columns), and
``DASH_APP_DATA_DIR`` (where the generated parquet lives; default ``./data``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dash
import dash_appkit.csp
from dash_appkit.environment import AppEnvironment

from . import callbacks, data, export, layout
from .memory import MemoryEngine
from .policy import ViewAs

__all__ = ["DESCRIPTION", "TITLE", "SalesConfig", "SalesContext", "create_app", "make_engine"]

TITLE = "Sales"
DESCRIPTION = "Revenue, deals and customers of the sales team: each person sees their own rows."


@dataclass(frozen=True)
class SalesConfig:
    """What the app is configured with; :meth:`from_env` reads it from the environment."""

    rows: int = 1_000_000
    backend: str = "memory"
    database_url: str = ""
    data_dir: Path = Path("data")

    @classmethod
    def from_env(cls) -> SalesConfig:
        """``SALES_ROWS``, ``SALES_BACKEND``, ``SALES_DATABASE_URL``, ``DASH_APP_DATA_DIR``."""
        return cls(
            rows=int(os.environ.get("SALES_ROWS") or cls.rows),
            backend=(os.environ.get("SALES_BACKEND") or cls.backend).strip().lower(),
            database_url=os.environ.get("SALES_DATABASE_URL", ""),
            data_dir=Path(AppEnvironment.from_env().data_dir or cls.data_dir),
        )


@dataclass(frozen=True)
class SalesContext:
    """What the layout, the callbacks and the export share."""

    engine: Any  # MemoryEngine or SqlEngine: the same questions, the same answers
    view_as: ViewAs
    prefix: str  # the app's URL prefix as the browser sees it: "/apps/sales/" or "/"
    page_size: int = layout.PAGE_SIZE


def make_engine(config: SalesConfig) -> Any:
    """The query engine the configuration asks for; the data is generated on first use."""
    if config.backend == "postgres":
        from .sql import SqlEngine

        return SqlEngine.postgres(config.database_url)
    if config.backend == "duckdb":
        from .sql import SqlEngine

        return SqlEngine.duckdb(data.ensure(config.data_dir, config.rows))
    if config.backend != "memory":
        raise ValueError(f"unknown sales backend {config.backend!r}")
    return MemoryEngine.for_data(data.load(config.data_dir, config.rows))


def create_app(config: SalesConfig | None = None) -> dash.Dash:
    """The sales Dash app, on its own Flask server (configuration: the environment).

    Dash takes the URL prefix from ``DASH_ROUTES_PATHNAME_PREFIX`` and
    ``DASH_REQUESTS_PATHNAME_PREFIX`` (``/`` when unset), and so does the CSV export.
    """
    config = config or SalesConfig.from_env()
    engine = make_engine(config)
    app = dash.Dash(
        __name__,
        title=TITLE,
        update_title=None,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    ctx = SalesContext(
        engine=engine,
        view_as=ViewAs(engine.region_of),
        prefix=app.config.requests_pathname_prefix,
    )
    app.layout = functools.partial(layout.build, ctx)
    callbacks.register(app, ctx)
    export.register(app.server, ctx, route=app.config.routes_pathname_prefix + "export.csv")
    # The platform's own apps run only their own scripts (dash_appkit.csp).
    dash_appkit.csp.protect(app)
    return app
