"""What the sales app asks and what it gets back, whichever engine answers.

Every query takes an :class:`~dash_appkit.rls.AllowedRows` (the policy's rows, already narrowed by
the product and salesman filters) and :class:`Filters` (the date range). Two engines answer:
:class:`salesapp.memory.MemoryEngine` (the loaded data's indexes; the default) and
:class:`salesapp.sql.SqlEngine` (DuckDB or PostgreSQL). Both give :class:`Summary` and
:class:`Page` values, equal for equal questions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from dash_appkit.names import normalize_username
from dash_appkit.rls import AllowedRows

__all__ = ["Filters", "Page", "Summary", "bucket_kind", "bucket_starts"]


def _date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _strings(value: object, limit: int = 200) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = [value] if isinstance(value, str) else value if isinstance(value, list | tuple) else []
    return tuple(sorted({str(v) for v in items if isinstance(v, str | int)}))[:limit]


@dataclass(frozen=True)
class Filters:
    """What the viewer narrowed to. Hashable: part of cache keys. ``date_to`` is inclusive."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    products: tuple[str, ...] = ()
    salesmen: tuple[str, ...] = ()

    @classmethod
    def parse(cls, date_from=None, date_to=None, products=None, salesmen=None) -> Filters:
        """From browser values (strings, lists); anything malformed is dropped."""
        return cls(
            _date(date_from),
            _date(date_to),
            _strings(products),
            tuple(sorted({normalize_username(s) for s in _strings(salesmen)})),
        )

    def resolve(self, start: dt.date, end: dt.date, default_days: int | None = 365) -> Filters:
        """Concrete dates inside the data: unless set, the last ``default_days`` days (or all)."""
        to = min(self.date_to or end, end)
        default = to - dt.timedelta(days=default_days - 1) if default_days else start
        frm = max(self.date_from or default, start)
        if frm > to:
            frm, to = max(to, start), min(frm, end)
        return Filters(frm, to, self.products, self.salesmen)

    def previous(self) -> tuple[dt.date, dt.date]:
        """The period of the same length right before this one."""
        assert self.date_from and self.date_to
        length = self.date_to - self.date_from + dt.timedelta(days=1)
        return self.date_from - length, self.date_from - dt.timedelta(days=1)

    def narrow(self, allowed: AllowedRows) -> AllowedRows:
        """The policy's rows, narrowed by the product and salesman filters: never widened."""
        if self.products:
            allowed = allowed.narrow("product", self.products)
        if self.salesmen:
            allowed = allowed.narrow("salesman", self.salesmen)
        return allowed


@dataclass(frozen=True)
class Summary:
    filters: Filters
    revenue: float
    units: int
    deals: int
    prev_revenue: float
    prev_units: int
    prev_deals: int
    bucket: str  # "day", "week" or "month"
    x: tuple[dt.date, ...]
    series: dict[str, list[float]]  # revenue per bucket, per region with rows
    by_product: tuple[tuple[str, float], ...]
    top_customers: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Page:
    records: list[dict] = field(default_factory=list)
    total: int = 0
    page: int = 0
    page_count: int = 1


def bucket_kind(days: int) -> str:
    return "day" if days <= 62 else "week" if days <= 400 else "month"


def bucket_starts(first: dt.date, days: int) -> tuple[str, np.ndarray, list[dt.date]]:
    """Offsets (from ``first``) where buckets begin, and each bucket's calendar start."""
    dates = np.datetime64(first, "D") + np.arange(days)
    kind = bucket_kind(days)
    if kind == "day":
        return kind, np.arange(days), [d.item() for d in dates]
    if kind == "week":
        key = (dates.view("int64") + 3) // 7  # weeks starting on Monday
        begin = (key * 7 - 3).astype("datetime64[D]")
    else:
        key = dates.astype("datetime64[M]").view("int64")
        begin = key.astype("datetime64[M]").astype("datetime64[D]")
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return kind, starts, [d.item() for d in begin[starts]]
