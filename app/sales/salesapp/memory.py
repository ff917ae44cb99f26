"""The in-memory engine: answers from indexes over the data loaded once per process.

KPIs, the time series and the breakdowns come from prefix sums over days of (revenue, units,
deals) by (salesman, product): their cost does not depend on the row count. Top customers
come from per-salesman prefix sums too, unless a product filter forces a pass over the rows.
Table pages and CSV read the per-salesman row ranges (rows are sorted by salesman, date).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator

import numpy as np
import pandas as pd
from dash_appkit.rls import AllowedRows

from .data import COLUMNS, SalesData
from .queries import Filters, Page, Summary, bucket_starts

__all__ = ["MemoryEngine"]


def _record(frame_rows) -> list[dict]:
    out = frame_rows.to_dict("records")
    for row in out:
        row["date"] = row["date"].strftime("%Y-%m-%d")
        row["amount"] = round(float(row["amount"]), 2)
        row["units"] = int(row["units"])
    return out


def _pairs(data: SalesData) -> pd.DataFrame:
    """Every (salesman, product) pair as a row, salesman-major, with the salesman's region."""
    salesman, product = np.divmod(
        np.arange(len(data.salesmen) * len(data.products)), len(data.products)
    )
    names = {"salesman": data.salesmen, "region": data.regions, "product": data.products}
    codes = {"salesman": salesman, "region": data.salesman_region[salesman], "product": product}
    return pd.DataFrame({col: np.asarray(names[col], dtype=object)[codes[col]] for col in names})


def _ends(a: int, b: int, rows: np.ndarray | None, k: int, last: bool) -> np.ndarray:
    """The first (or last) ``k`` of the rows ``a:b`` (or of ``rows`` when given)."""
    if rows is not None:
        return rows[-k:] if last else rows[:k]
    return np.arange(max(a, b - k), b) if last else np.arange(a, min(b, a + k))


class MemoryEngine:
    """Answers from the in-memory indexes. Results are cached per (row set, filters)."""

    def __init__(self, data: SalesData, cache_size: int = 512):
        self.data = d = data
        self.start, self.end = data.start, data.end
        self.products = data.products
        self.region_of = data.region_of()
        # Daily (revenue, units, deals) by (salesman, product), as prefix sums over days:
        # the totals of days [d0, d1) are cum[d1] - cum[d0], whatever the row count.
        shape = (d.n_days, len(d.salesmen), len(d.products))
        cell = (d.day.astype(np.int64) * shape[1] + d.salesman) * shape[2] + d.product
        self.cum = np.zeros((shape[0] + 1, *shape[1:], 3))
        for k, weights in enumerate((d.amount, d.units, None)):
            daily = np.bincount(cell, weights=weights, minlength=int(np.prod(shape)))
            np.cumsum(daily.reshape(shape), axis=0, out=self.cum[1:, :, :, k])
        self.pairs = _pairs(data)
        self._customer_index()
        self.product_customer = (d.product.astype(np.int64) * len(d.customers) + d.customer).astype(
            np.int32
        )
        self._summary = functools.lru_cache(cache_size)(self._compute_summary)
        self._rows = functools.lru_cache(4)(self._compute_rows)
        self._selection = functools.lru_cache(cache_size)(self._compute_selection)

    @classmethod
    def for_data(cls, data: SalesData) -> MemoryEngine:
        """One engine per loaded data set and process."""
        with _ENGINES_LOCK:
            if data.path not in _ENGINES or _ENGINES[data.path].data is not data:
                _ENGINES[data.path] = cls(data)
            return _ENGINES[data.path]

    def _customer_index(self) -> None:
        """Per salesman, prefix sums of revenue by (day, customer) when each sells to few."""
        d = self.data
        local = np.zeros(len(d.customer), dtype=np.int64)
        maps = []
        for s in range(len(d.salesmen)):
            a, b = d.bounds[s], d.bounds[s + 1]
            found, local[a:b] = np.unique(d.customer[a:b], return_inverse=True)
            maps.append(found)
        width = max((len(m) for m in maps), default=0)
        self.cust_map = self.cust_cum = None
        if not 0 < width <= 64:
            return
        self.cust_map = np.full((len(maps), width), -1, dtype=np.int64)
        for s, found in enumerate(maps):
            self.cust_map[s, : len(found)] = found
        cell = (d.day.astype(np.int64) * len(maps) + d.salesman) * width + local
        size = (d.n_days, len(maps), width)
        totals = np.bincount(cell, weights=d.amount, minlength=np.prod(size)).reshape(size)
        self.cust_cum = np.zeros((d.n_days + 1, *size[1:]))
        np.cumsum(totals, axis=0, out=self.cust_cum[1:])

    # ---- row sets
    def selection(self, allowed: AllowedRows) -> np.ndarray:
        """(salesman, product) pairs the row set allows, as a boolean (salesman, product) array.

        Rows are allowed by these keys only: a row set may constrain ``salesman``, ``region``
        (each salesman sells in one) and ``product``; any other column is an error.
        """
        return self._selection(allowed.key)

    def _compute_selection(self, key: tuple) -> np.ndarray:
        # The row set's own pandas renderer over the pairs: the engine never reads clauses.
        d = self.data
        return AllowedRows(key).mask(self.pairs).reshape(len(d.salesmen), len(d.products))

    def _days(self, filters: Filters) -> tuple[int, int]:
        d0 = (filters.date_from - self.start).days
        d1 = (filters.date_to - self.start).days + 1
        return max(d0, 0), min(max(d1, 0), self.data.n_days)

    def segments(
        self, allowed: AllowedRows, filters: Filters
    ) -> list[tuple[int, int, np.ndarray | None]]:
        """Row ranges ``[a, b)`` in scope, each with the product mask to apply (or ``None``)."""
        d = self.data
        sel = self.selection(allowed)
        d0, d1 = self._days(filters)
        out: list[tuple[int, int, np.ndarray | None]] = []
        for s in np.flatnonzero(sel.any(axis=1)):
            r0, r1 = int(d.bounds[s]), int(d.bounds[s + 1])
            days = d.day[r0:r1]
            a, b = r0 + int(np.searchsorted(days, d0)), r0 + int(np.searchsorted(days, d1))
            if a >= b:
                continue
            pm = None if sel[s].all() else sel[s]
            if pm is None and out and out[-1][2] is None and out[-1][1] == a:
                out[-1] = (out[-1][0], b, None)
            else:
                out.append((a, b, pm))
        return out

    def rows(self, allowed: AllowedRows, filters: Filters) -> np.ndarray:
        """Indexes of the rows in scope, in (salesman, date) order."""
        return self._rows(allowed.key, filters.resolve(self.start, self.end))

    def _compute_rows(self, key: tuple, filters: Filters) -> np.ndarray:
        d = self.data
        kind = np.int32 if len(d.frame) < 2**31 else np.int64  # half the memory of a cache entry
        parts = []
        for a, b, pm in self.segments(AllowedRows(key), filters):
            rows = np.arange(a, b, dtype=kind)
            parts.append(rows if pm is None else rows[pm[d.product[a:b]]])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=kind)

    def salesmen(self, allowed: AllowedRows) -> list[str]:
        """The salesmen with rows in ``allowed`` (for the salesman filter's options)."""
        d = self.data
        has_rows = d.bounds[1:] > d.bounds[:-1]
        return [d.salesmen[s] for s in np.flatnonzero(self.selection(allowed).any(1) & has_rows)]

    # ---- answers
    def summary(self, allowed: AllowedRows, filters: Filters, top_n: int = 10) -> Summary:
        """KPIs against the previous period, revenue by region over time, breakdowns."""
        return self._summary(allowed.key, filters.resolve(self.start, self.end), top_n)

    def _compute_summary(self, key: tuple, filters: Filters, top_n: int) -> Summary:
        d = self.data
        sel = self._selection(key)
        w = sel.astype(np.float64)
        d0, d1 = self._days(filters)
        now = ((self.cum[d1] - self.cum[d0]) * w[:, :, None]).sum(axis=0)  # (product, k)
        p0, p1 = self._days(Filters(*filters.previous()))
        prev = ((self.cum[p1] - self.cum[p0]) * w[:, :, None]).sum(axis=(0, 1))
        kind, starts, x = bucket_starts(filters.date_from, max(d1 - d0, 0))
        edges = np.r_[d0 + starts, d1] if d1 > d0 else np.zeros(0, dtype=np.int64)
        per = np.diff(self.cum[edges, :, :, 0], axis=0) if len(edges) else np.zeros((0, *w.shape))
        by_salesman = (per * w).sum(axis=2)  # (bucket, salesman)
        chosen = sel.any(axis=1)
        series = {  # per region with rows in scope (summed without BLAS: tiny arrays)
            d.regions[r]: by_salesman[:, chosen & (d.salesman_region == r)]
            .sum(axis=1)
            .round(2)
            .tolist()
            for r in np.unique(d.salesman_region[chosen])
        }
        products = [(d.products[p], round(float(v), 2)) for p, v in enumerate(now[:, 0]) if v > 0]
        return Summary(
            filters=filters,
            revenue=round(float(now[:, 0].sum()), 2),
            units=round(float(now[:, 1].sum())),
            deals=round(float(now[:, 2].sum())),
            prev_revenue=round(float(prev[0]), 2),
            prev_units=round(float(prev[1])),
            prev_deals=round(float(prev[2])),
            bucket=kind,
            x=tuple(x),
            series=series,
            by_product=tuple(sorted(products, key=lambda kv: (-kv[1], kv[0]))),
            top_customers=self._top_customers(key, sel, filters, d0, d1, top_n),
        )

    def _top_customers(self, key, sel, filters, d0, d1, top_n) -> tuple[tuple[str, float], ...]:
        d = self.data
        total = np.zeros(len(d.customers))
        rows_full = sel.all(axis=1) | ~sel.any(axis=1)
        if self.cust_cum is not None and rows_full.all():
            chosen = sel.any(axis=1)
            part = (self.cust_cum[d1] - self.cust_cum[d0])[chosen]
            cmap = self.cust_map[chosen]
            ok = cmap >= 0
            total = np.bincount(cmap[ok], weights=part[ok], minlength=len(d.customers))
        else:  # one pass over the rows in scope: revenue by (product, customer), then pick
            n_c, n_p = len(d.customers), len(d.products)
            for a, b, pm in self.segments(AllowedRows(key), filters):
                by = np.bincount(self.product_customer[a:b], d.amount[a:b], n_p * n_c)
                by = by.reshape(n_p, n_c)
                total += by.sum(axis=0) if pm is None else by[pm].sum(axis=0)
        order = np.argsort(-total, kind="stable")[:top_n]
        return tuple((d.customers[c], round(float(total[c]), 2)) for c in order if total[c] > 0)

    def _sort_key(self, column: str, rows: np.ndarray) -> np.ndarray:
        d = self.data
        if column == "region":
            return d.salesman_region[d.salesman[rows]].astype(np.int64)
        if column == "amount":
            return np.rint(d.amount[rows] * 100).astype(np.int64)
        source = {
            "date": d.day,
            "salesman": d.salesman,
            "customer": d.customer,
            "product": d.product,
            "units": d.units,
        }[column]
        return source[rows].astype(np.int64)

    def page(
        self, allowed: AllowedRows, filters: Filters, sort_by: list | None, page: int, size: int
    ) -> Page:
        """One page of rows, sorted on the server (newest first unless ``sort_by`` says).

        Rows order by (column, row number); descending is exactly the reverse. Sorting by
        date needs no full sort: each salesman's rows are already in date order, so the
        first page's rows are among the last ``size`` rows of each range.
        """
        column, descending = "date", True
        if sort_by and isinstance(sort_by[0], dict) and sort_by[0].get("column_id") in COLUMNS:
            column = sort_by[0]["column_id"]
            descending = sort_by[0].get("direction") == "desc"
        filters = filters.resolve(self.start, self.end)
        if column == "date":
            d = self.data
            segs = [
                (a, b, None if pm is None else a + np.flatnonzero(pm[d.product[a:b]]))
                for a, b, pm in self.segments(allowed, filters)
            ]
            total = sum(b - a if r is None else len(r) for a, b, r in segs)
        else:
            rows = self.rows(allowed, filters)
            total = len(rows)
        page_count = max(1, -(-total // size))
        page = min(max(int(page or 0), 0), page_count - 1)
        k = min((page + 1) * size, total)
        if k == 0:
            return Page([], 0, 0, 1)
        if column == "date":  # only the first/last k rows of each range can be on the page
            rows = np.concatenate([_ends(a, b, r, k, descending) for a, b, r in segs])
        key = self._sort_key(column, rows) * len(self.data.frame) + rows
        key = -key if descending else key
        if k < len(key) // 2:
            top = np.argpartition(key, k - 1)[:k]
            order = top[np.argsort(key[top])]
        else:
            order = np.argsort(key)[:k]
        chosen = rows[order[page * size : k]]
        return Page(_record(self.data.frame.iloc[chosen]), total, page, page_count)

    def iter_csv(
        self, allowed: AllowedRows, filters: Filters, chunk: int = 100_000
    ) -> Iterator[str]:
        """The rows in scope as CSV text, in chunks (header first, even with no row)."""
        frame = self.data.frame
        yield ",".join(COLUMNS) + "\n"
        for a, b, pm in self.segments(allowed, filters.resolve(self.start, self.end)):
            for lo in range(a, b, chunk):
                part = frame.iloc[lo : min(lo + chunk, b)]
                if pm is not None:
                    part = part[pm[self.data.product[lo : min(lo + chunk, b)]]]
                yield part.to_csv(
                    index=False, header=False, date_format="%Y-%m-%d", columns=list(COLUMNS)
                )


_ENGINES: dict = {}
_ENGINES_LOCK = threading.Lock()
