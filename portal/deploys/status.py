"""What the API and the App Manager say about deployments: status, and how the processes are."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.hosting.memwatch import MemoryLimits
from portal.hosting.restarts import Restarts
from portal.registry.models import App
from portal.services import services

from .models import Deployment, DeploymentStatus
from .pipeline import process_name

__all__ = ["deployment_json", "deployments_of", "describe", "process_json"]

log = logging.getLogger(__name__)


def deployment_json(deployment: Deployment) -> dict[str, Any]:
    """The contract's shape of a deployment, plus its entry point and end time."""
    return {
        "id": deployment.id,
        "status": deployment.status,
        "created_at": deployment.created_at.isoformat(),
        "created_by": deployment.created_by,
        "error": deployment.error,
        "entrypoint": deployment.entrypoint,
        "finished_at": deployment.finished_at.isoformat() if deployment.finished_at else None,
    }


def process_json(slug: str, deployment: Deployment) -> dict[str, Any] | None:
    """How the processes of an active deployment are doing, as supervisord says.

    ``crash_loop`` is true when they kept failing right after each restart and the
    supervisor gave up (until the next deploy or restart).
    """
    if deployment.status != DeploymentStatus.ACTIVE:
        return None
    try:
        state = services().hosting.runner.state(process_name(slug, deployment.id))
    except Exception as error:  # the supervisor is a separate process: say so, do not fail
        log.warning("asking the supervisor about %s failed: %s", slug, error)
        return {"state": "UNKNOWN", "crash_loop": False, "description": "supervisor unreachable"}
    limits = MemoryLimits(services().hosting.supervisor.root)
    return {
        "state": state.statename,
        "crash_loop": state.crash_loop,
        "description": state.description,
        "pid": state.pid,
        # The last restart for using more memory than allowed ({"at", "rss", "limit"}).
        "out_of_memory": limits.last_event(process_name(slug, deployment.id)),
        # Processes replaced since it was last started on purpose ({"restarts", "last"}).
        **Restarts(services().hosting.supervisor.root).of(process_name(slug, deployment.id)),
    }


def describe(slug: str, deployment: Deployment) -> dict[str, Any]:
    """A deployment's JSON; an active one also says how its processes are doing."""
    body = deployment_json(deployment)
    process = process_json(slug, deployment)
    if process is not None:
        body["process"] = process
    return body


def deployments_of(slug: str) -> list[Deployment]:
    """The app's deployments, newest first."""
    return list(
        db.session.execute(
            select(Deployment)
            .join(App, App.id == Deployment.app_id)
            .where(App.slug == slug)
            .order_by(Deployment.id.desc())
        ).scalars()
    )
