"""Viewer Analytics: page views of apps, and views per day.

A view is one insert, committed at once unless the caller runs a
:func:`portal.unit_of_work.unit_of_work`. Days are UTC days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import distinct, func, select

from portal.extensions import db
from portal.unit_of_work import unit_of_work
from roles import normalize_username

from .models import AppView, utcnow

__all__ = ["record_view", "views_per_day"]

MAX_DAYS = 366


def record_view(slug: str, username: str | None) -> None:
    """Count one view of ``slug`` by ``username`` (``None``: anonymous)."""
    name = normalize_username(username) if username else None
    with unit_of_work() as session:
        session.add(AppView(app_slug=slug, username=name or None, at=utcnow()))


def _as_date(value: object) -> date:
    # SQLite's date() gives "YYYY-MM-DD"; PostgreSQL gives a date.
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def views_per_day(slug: str, days: int = 30) -> list[tuple[date, int, int]]:
    """``(day, views, unique signed-in viewers)`` for the last ``days`` UTC days, oldest first.

    Every day of the window is present (zeros included), so charts need no gap filling.
    Anonymous views count as views, not as unique viewers.
    """
    days = max(1, min(int(days), MAX_DAYS))
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    day = func.date(AppView.at)
    rows = db.session.execute(
        select(day, func.count(), func.count(distinct(AppView.username)))
        .where(AppView.app_slug == slug, AppView.at >= since)
        .group_by(day)
    ).all()
    counted = {_as_date(d): (int(views), int(unique)) for d, views, unique in rows}
    return [
        (first + timedelta(days=i), *counted.get(first + timedelta(days=i), (0, 0)))
        for i in range(days)
    ]
