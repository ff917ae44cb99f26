"""The sales queries in SQL: DuckDB over the parquet file, or PostgreSQL through psycopg.

The row policy becomes a WHERE clause with bound parameters (:meth:`AllowedRows.to_sql`);
filters are bound parameters too; identifiers come from a fixed allowlist. Nothing a
browser sends is ever part of the SQL text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from dash_appkit.rls import AllowedRows, quote_identifier

from .data import COLUMNS
from .policy import POLICY_COLUMNS
from .queries import Filters, Page, Summary, bucket_starts

__all__ = ["SqlEngine"]

_COLS = ", ".join(quote_identifier(c) for c in COLUMNS)


class SqlEngine:
    """Answers :class:`~salesapp.memory.MemoryEngine`'s questions with SQL."""

    def __init__(self, connect: Callable[[], Any], *, table: str, paramstyle: str):
        self._connect = connect
        self._local = threading.local()
        self.table = table  # a trusted identifier, never user input
        self.paramstyle = paramstyle
        self.mark = "?" if paramstyle == "qmark" else "%s"
        # The catalog: date bounds, products and each salesman's region.
        bounds = self._select('MIN("date"), MAX("date")', "1 = 1", [])[0]
        self.start, self.end = _as_date(bounds[0]), _as_date(bounds[1])
        self.products = tuple(r[0] for r in self._select('DISTINCT "product"', "1 = 1", [], "1"))
        self.region_of = dict(self._select('DISTINCT "salesman", "region"', "1 = 1", [], "1"))

    @classmethod
    def duckdb(cls, path: Path) -> SqlEngine:
        """DuckDB, embedded, reading the parquet file in place."""
        import duckdb

        database = duckdb.connect()
        # The path is the app's own configuration, not a value from a request.
        literal = "'" + str(Path(path).resolve()).replace("'", "''") + "'"
        database.execute(f"CREATE VIEW sales AS SELECT * FROM read_parquet({literal})")  # noqa: S608
        return cls(database.cursor, table="sales", paramstyle="qmark")

    @classmethod
    def postgres(cls, url: str, *, table: str = "sales") -> SqlEngine:
        """PostgreSQL through psycopg; ``table`` holds the same columns as the parquet file."""
        import psycopg

        name = ".".join(quote_identifier(part) for part in table.split("."))
        return cls(lambda: psycopg.connect(url, autocommit=True), table=name, paramstyle="format")

    # ---- plumbing
    def _cursor(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn.cursor()

    def _sql(self, what: str, where: str, order: str = "", limit: bool = False) -> str:
        """The one place SQL text is assembled, from fixed fragments only: quoted allowlisted
        identifiers, placeholders, and the WHERE text of :meth:`where`. Values are parameters."""
        sql = f"SELECT {what} FROM {self.table} WHERE {where}"  # noqa: S608
        if order:
            sql += f" ORDER BY {order}"
        if limit:
            sql += f" LIMIT {self.mark} OFFSET {self.mark}"
        return sql

    def _select(
        self, what: str, where: str, params: list[Any], order: str = "", limit: bool = False
    ) -> list[tuple]:
        cur = self._cursor()
        cur.execute(self._sql(what, where, order, limit), params)
        return cur.fetchall()

    def where(
        self, allowed: AllowedRows, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> tuple[str, list[Any]]:
        """The policy's condition and the date range, with their parameters."""
        rls = allowed.to_sql(POLICY_COLUMNS, self.paramstyle)
        sql, params = rls.sql, list(rls.params)
        if date_from is not None and date_to is not None:
            sql += f' AND "date" BETWEEN {self.mark} AND {self.mark}'
            params += [date_from, date_to]
        return sql, params

    # ---- answers
    def salesmen(self, allowed: AllowedRows) -> list[str]:
        where, params = self.where(allowed)
        return [row[0] for row in self._select('DISTINCT "salesman"', where, params, "1")]

    def summary(self, allowed: AllowedRows, filters: Filters, top_n: int = 10) -> Summary:
        f = filters.resolve(self.start, self.end)
        where, params = self.where(allowed, f.date_from, f.date_to)
        prev_where, prev_params = self.where(allowed, *f.previous())
        totals = 'COALESCE(SUM("amount"), 0), COALESCE(SUM("units"), 0), COUNT(*)'
        now = self._select(totals, where, params)[0]
        prev = self._select(totals, prev_where, prev_params)[0]
        by = '"{0}", SUM("amount") AS revenue'
        daily = self._select(
            by.format("date") + ', "region"', where + ' GROUP BY "date", "region"', params
        )
        products = self._select(by.format("product"), where + " GROUP BY 1", params, "2 DESC, 1")
        customers = self._select(
            by.format("customer"),
            where + " GROUP BY 1",
            [*params, int(top_n), 0],
            "2 DESC, 1",
            True,
        )
        scope_where, scope_params = self.where(allowed)
        regions = [r[0] for r in self._select('DISTINCT "region"', scope_where, scope_params, "1")]
        days = (f.date_to - f.date_from).days + 1
        kind, starts, x = bucket_starts(f.date_from, days)
        bucket_of = np.searchsorted(starts, np.arange(days), side="right") - 1
        series = {region: np.zeros(len(starts)) for region in regions}
        for day, amount, region in daily:
            index = (_as_date(day) - f.date_from).days
            series.setdefault(region, np.zeros(len(starts)))[bucket_of[index]] += float(amount)
        return Summary(
            filters=f,
            revenue=round(float(now[0]), 2),
            units=int(now[1]),
            deals=int(now[2]),
            prev_revenue=round(float(prev[0]), 2),
            prev_units=int(prev[1]),
            prev_deals=int(prev[2]),
            bucket=kind,
            x=tuple(x),
            series={r: v.round(2).tolist() for r, v in sorted(series.items())},
            by_product=tuple((p, round(float(v), 2)) for p, v in products if v),
            top_customers=tuple((c, round(float(v), 2)) for c, v in customers if v),
        )

    def page(
        self, allowed: AllowedRows, filters: Filters, sort_by: list | None, page: int, size: int
    ) -> Page:
        f = filters.resolve(self.start, self.end)
        where, params = self.where(allowed, f.date_from, f.date_to)
        column, direction = "date", "DESC"
        if sort_by and isinstance(sort_by[0], dict) and sort_by[0].get("column_id") in COLUMNS:
            column = sort_by[0]["column_id"]
            direction = "DESC" if sort_by[0].get("direction") == "desc" else "ASC"
        total = int(self._select("COUNT(*)", where, params)[0][0])
        page_count = max(1, -(-total // size))
        page = min(max(int(page or 0), 0), page_count - 1)
        order = f"{quote_identifier(column)} {direction}, {_COLS}"
        rows = self._select(_COLS, where, [*params, size, page * size], order, True)
        records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
        for rec in records:
            rec["date"] = _as_date(rec["date"]).isoformat()
            rec["amount"] = round(float(rec["amount"]), 2)
        return Page(records, total, page, page_count)

    def iter_csv(
        self, allowed: AllowedRows, filters: Filters, chunk: int = 10_000
    ) -> Iterator[str]:
        f = filters.resolve(self.start, self.end)
        where, params = self.where(allowed, f.date_from, f.date_to)
        yield ",".join(COLUMNS) + "\n"
        cur = self._cursor()
        cur.execute(self._sql(_COLS, where, '"salesman", "date"'), params)
        while rows := cur.fetchmany(chunk):
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            for row in rows:
                writer.writerow([_as_date(row[0]).isoformat(), *row[1:]])
            yield out.getvalue()


def _as_date(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value
