"""What the App Manager's operating sections show: processes, variables, the log's tail."""

from __future__ import annotations

from typing import Any

from portal.deploys import env_vars
from portal.deploys.operations import tail_log
from portal.deploys.pipeline import active_deployment
from portal.deploys.status import process_json
from portal.extensions import db
from portal.identity import User
from portal.registry import AppRecord
from portal.registry.models import App
from roles import Action, can

__all__ = ["LOG_LINES", "operating_view"]

LOG_LINES = 200


def operating_view(record: AppRecord, user: User) -> dict[str, Any] | None:
    """The sections' data, or ``None`` when ``user`` may not operate the app."""
    if not can(user, Action.OPERATE_APP, record):
        return None
    app = db.session.execute(db.select(App).where(App.slug == record.slug)).scalar_one()
    active = active_deployment(app.id)
    if app.stopped:
        state = "stopped"
    elif active is None:
        state = "not deployed"
    else:
        process = process_json(record.slug, active) or {}
        state = "crash loop" if process.get("crash_loop") else str(process.get("state", "")).lower()
        if process.get("out_of_memory"):
            state += f" (restarted: out of memory at {process['out_of_memory']['at'][:19]})"
    return {
        "state": state,
        "active": active.id if active else None,
        "env_names": env_vars.names(app.id),
        "log": tail_log(record.slug, LOG_LINES),
        "may_set_memory": can(user, Action.SET_MEMORY_LIMIT, record),
    }
