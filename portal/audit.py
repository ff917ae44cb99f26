"""The audit log: who changed what, and the unit of work that keeps it honest.

:func:`transaction` is one unit of work on the platform database: everything done inside
commits together or not at all, and what it reads is the state its writes replace.
:func:`record` joins the unit it is called in, so a store function writes its change and
its audit event in one commit (a failed change leaves no event, an event never describes
a change that did not happen). Called on its own, :func:`record` commits at once.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.registry.models import AuditEvent

__all__ = ["in_transaction", "lock_rows", "recent", "record", "transaction"]

log = logging.getLogger(__name__)

#: Whether the current context is inside a :func:`transaction` (its owner commits).
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("portal_audit_inside", default=False)

_MAX_RECENT = 1000


def in_transaction() -> bool:
    """Whether the caller runs inside a :func:`transaction` that will commit for it."""
    return _inside.get()


@contextmanager
def transaction() -> Iterator[Session]:
    """One unit of work on ``db.session``: commit on success, roll back on any error.

    Nested calls join the outermost unit, which alone commits or rolls back. Work the
    session already had pending when the unit began becomes part of it.

    Concurrent units must not both read a state and then both replace it (each audit
    event's "before" would be wrong). On SQLite the unit takes the database's write lock
    before its first read (``BEGIN IMMEDIATE``): units run one after the other. Other
    databases lock what a unit changes: it reads those rows ``FOR UPDATE``
    (:func:`lock_rows`), first.
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


def record(
    actor: str,
    action: str,
    target: str,
    *,
    before: Any = None,
    after: Any = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event; it commits with the caller's :func:`transaction` or on its own.

    ``before``/``after``/``detail`` must be JSON-serialisable. ``target`` names what was
    acted on, e.g. ``app:sales`` or ``policy:portal``.
    """
    event = AuditEvent(
        actor=actor or "anonymous",
        action=action,
        target=target,
        before=before,
        after=after,
        detail=detail,
    )
    with transaction() as session:
        session.add(event)
    log.debug("audit event %s %s %s", actor, action, target)


def recent(limit: int = 200, *, target: str | None = None) -> list[dict[str, Any]]:
    """The newest audit events first (at most ``limit``, at most 1000), optionally of one target."""
    limit = max(1, min(int(limit), _MAX_RECENT))
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if target is not None:
        query = query.where(AuditEvent.target == target)
    return [
        {
            "id": event.id,
            "at": event.at.isoformat(),
            "actor": event.actor,
            "action": event.action,
            "target": event.target,
            "before": event.before,
            "after": event.after,
            "detail": event.detail,
        }
        for event in db.session.execute(query).scalars()
    ]
