"""What the App Manager's operating sections show: processes, variables, the log's tail."""

from __future__ import annotations

from typing import Any

from portal.deploys import env_vars
from portal.deploys.models import Deployment, DeploymentStatus
from portal.deploys.operations import tail_log
from portal.deploys.pipeline import active_deployment
from portal.deploys.status import process_json
from portal.extensions import db
from portal.hosting.memwatch import tree_rss
from portal.identity import User
from portal.registry import AppRecord
from portal.registry.models import App
from roles import Action, can, can_change

__all__ = ["LOG_LINES", "operating_view"]

LOG_LINES = 200


def operating_view(record: AppRecord, user: User) -> dict[str, Any] | None:
    """The sections' data, or ``None`` when ``user`` may not operate the app."""
    if not can(user, Action.OPERATE_APP, record):
        return None
    app = db.session.execute(db.select(App).where(App.slug == record.slug)).scalar_one()
    active = active_deployment(app.id)
    process: dict[str, Any] = {}
    if app.stopped:
        state = "stopped"
    elif active is None:
        state = "not deployed"
    else:
        process = process_json(record.slug, active) or {}
        state = "crash loop" if process.get("crash_loop") else str(process.get("state", "")).lower()
        if state == "stopped":
            state = "asleep (idle): the next request starts it"
    failed = db.session.execute(
        db.select(Deployment)
        .where(Deployment.app_id == app.id, Deployment.status == DeploymentStatus.FAILED)
        .order_by(Deployment.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return {
        "state": state,
        "active": active.id if active else None,
        "uptime": process.get("description", ""),
        "memory_mb": _memory_mb(process.get("pid")),
        "out_of_memory": process.get("out_of_memory"),
        "restarts": process.get("restarts", 0),
        "last_restart": process.get("last_restart"),
        "last_error": failed.error if failed else None,
        "env_names": env_vars.names(app.id),
        "log": tail_log(record.slug, LOG_LINES),
        "may_set_memory": can_change(user, "memory_limit_mb", record),
    }


def _memory_mb(pid: int | None) -> int | None:
    """Resident memory of the app's processes, in MB (None when none runs)."""
    return tree_rss(pid) >> 20 if pid else None
