"""The audit log: who changed what.

:func:`record` joins the :func:`~portal.unit_of_work.unit_of_work` it is called in, so a
store function writes its change and its audit event in one commit. Called on its own,
:func:`record` commits at once.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.registry.models import AuditEvent
from portal.unit_of_work import unit_of_work

__all__ = ["recent", "record"]

log = logging.getLogger(__name__)

_MAX_RECENT = 1000


def record(
    actor: str,
    action: str,
    target: str,
    *,
    before: Any = None,
    after: Any = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event; it commits with the caller's unit of work or on its own.

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
    with unit_of_work() as session:
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
