"""The unit of work: every change to the platform database commits whole or not at all.

:func:`unit_of_work` wraps what one request or command changes; nested units join the
outermost, which alone commits. A store function that writes its change and its audit
event (:func:`portal.audit.record`) inside one unit commits both together: a failed change
leaves no event, and an event never describes a change that did not happen.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Select
from sqlalchemy.orm import Session

from portal.extensions import db

__all__ = ["in_unit_of_work", "lock_rows", "unit_of_work"]

#: Whether the current context is inside a :func:`unit_of_work` (its owner commits).
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("portal_unit_of_work", default=False)


def in_unit_of_work() -> bool:
    """Whether the caller runs inside a :func:`unit_of_work` that will commit for it."""
    return _inside.get()


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One unit of work on ``db.session``: commit on success, roll back on any error.

    Nested calls join the outermost unit, which alone commits or rolls back. Work the
    session already had pending when the unit began becomes part of it.

    Concurrent units must not both read a state and then both replace it (an audit
    event's "before", written in the same unit, would be wrong). On SQLite the unit
    takes the database's write lock before its first read (``BEGIN IMMEDIATE``): units
    run one after the other. Other databases lock what a unit changes: it reads those
    rows ``FOR UPDATE`` (:func:`lock_rows`), first.
    """
    if _inside.get():
        yield db.session
        return
    token = _inside.set(True)
    try:
        _take_sqlite_write_lock(db.session)
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        _inside.reset(token)


def _take_sqlite_write_lock(session: Session) -> None:
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    # The sqlite3 module opens a transaction only at the first write, so the unit's reads
    # would see whatever was committed before that, without holding any lock.
    driver = connection.connection.driver_connection
    if not driver.in_transaction:  # else an earlier write of this unit holds the lock
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def lock_rows(statement: Select) -> Select:
    """``statement`` (a SELECT of rows a unit will change) taking their row locks, and
    refreshing objects the session loaded before, so the unit reads committed state."""
    return statement.with_for_update().execution_options(populate_existing=True)
