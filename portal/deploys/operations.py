"""Operating a deployed app: roll back or forward, start, stop, restart, its log, delete.

Seed 002's table: owners, co-owners and admins do all of these (the API checks
``roles.Action.OPERATE_APP``). Every operation is audited in the transaction of its change.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select

from portal import audit
from portal.extensions import db
from portal.hosting.runner import StartError, http_status_line
from portal.identity import User
from portal.registry import AppRecord, app_target, get_app, initialize_app
from portal.registry.database import file_lock
from portal.registry.store import bump_version
from portal.services import services
from portal.unit_of_work import unit_of_work

from .models import AppEnvVar, Deployment, DeploymentStatus
from .pipeline import (
    DRAIN_SECONDS,
    START_TIMEOUT,
    DeployError,
    active_deployment,
    app_row,
    process_name,
    spec_for,
    switch_to,
)

__all__ = [
    "activate",
    "create_app",
    "delete_app",
    "follow_log",
    "set_running",
    "tail_log",
    "wake",
]

log = logging.getLogger(__name__)

#: How much of the end of a log one answer reads at most.
_TAIL_BYTES = 4 * 1024 * 1024


def create_app(
    slug: str, *, owner: User, title: str | None = None, description: str = ""
) -> AppRecord:
    """Register a new app owned by ``owner`` (RegistryError when refused), and give the
    front door its route, so it knows the app before the first deployment serves."""
    record = initialize_app(slug, owner=owner, title=title, description=description)
    services().hosting.routes.publish(record.slug)
    return record


def activate(slug: str, deployment_id: int, *, actor: str) -> Deployment:
    """Serve a deployment that was built before (roll back or forward); the old one stops."""
    hosting = services().hosting
    app = app_row(slug)
    deployment = db.session.get(Deployment, deployment_id)
    if deployment is None or deployment.app_id != app.id:
        raise DeployError(404, f"No deployment {deployment_id} of {slug!r}.")
    if deployment.status == DeploymentStatus.ACTIVE and not app.stopped:
        return deployment
    venv = hosting.layout.envs_dir / (deployment.environment or "-")
    if deployment.status == DeploymentStatus.FAILED or not (venv / ".complete").exists():
        raise DeployError(409, f"Deployment {deployment_id} was never built: deploy again.")
    with file_lock(hosting.paths.lock(slug)):
        spec = spec_for(deployment, venv)
        try:
            hosting.runner.start(spec)
            hosting.runner.wait_ready(spec, START_TIMEOUT)
        except StartError as error:
            hosting.runner.stop(spec.name)
            raise DeployError(409, f"Deployment {deployment_id} did not start: {error}") from error
        replaced = switch_to(deployment, slug)
        with unit_of_work():
            app.stopped = False
            audit.record(
                actor, "app.activate", app_target(slug), detail={"deployment": deployment_id}
            )
        if replaced:
            time.sleep(DRAIN_SECONDS)
        for old in replaced:
            hosting.runner.stop(process_name(slug, old.id))
    return deployment


def set_running(slug: str, action: str, *, actor: str) -> str:
    """``start``, ``stop`` or ``restart`` the app's active deployment; returns its new state.

    A start or restart begins at once and is answered before the app answers (202): the
    front door says "not running right now" until it does. New environment variables and
    worker counts apply here.
    """
    hosting = services().hosting
    app = app_row(slug)
    deployment = active_deployment(app.id)
    if deployment is None:
        raise DeployError(409, f"{slug!r} has no active deployment: deploy it first.")
    name = process_name(slug, deployment.id)
    with file_lock(hosting.paths.lock(slug)):
        with unit_of_work():
            app.stopped = action == "stop"
            detail = {"deployment": deployment.id}
            audit.record(actor, f"app.{action}", app_target(slug), detail=detail)
        if action == "stop":
            hosting.runner.stop(name)
            return "stopped"
        venv = hosting.layout.envs_dir / (deployment.environment or "")
        try:
            hosting.runner.start(spec_for(deployment, venv))
        except StartError as error:
            raise DeployError(409, f"{slug!r} cannot start: {error}") from error
    return "starting"


def wake(slug: str, *, timeout: float) -> str:
    """Start an app stopped for being idle; ``ready``, ``starting`` or ``down``.

    ``down``: not asleep but not running either (stopped by its owner, a crash loop, never
    deployed): nothing to wake. Waits up to ``timeout`` for it to answer.
    """
    hosting = services().hosting
    app = app_row(slug)
    deployment = active_deployment(app.id)
    if deployment is None or app.stopped:
        return "down"
    name = process_name(slug, deployment.id)
    state = hosting.runner.state(name).statename
    if state in ("STOPPED", "EXITED"):
        log.info("waking %s", slug)
        hosting.runner.resume(name)
    elif state not in ("STARTING", "RUNNING"):
        return "down"
    socket_path = hosting.paths.socket(slug, deployment.id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_status_line(socket_path, f"/apps/{slug}/", timeout=1) is not None:
            return "ready"
        time.sleep(0.1)
    return "starting"


def _read_tail(path: Path, lines: int) -> tuple[str, int]:
    """The last ``lines`` lines of ``path`` and the file's size (where following resumes)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - _TAIL_BYTES))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return "", 0
    kept = text.splitlines(keepends=True)[-lines:] if lines > 0 else []
    return "".join(kept), size


def tail_log(slug: str, lines: int) -> str:
    """The app's own output, newest last."""
    app_row(slug)
    return _read_tail(services().hosting.paths.app_log(slug), lines)[0]


def follow_log(slug: str, lines: int, *, seconds: float = 3600) -> Iterator[str]:
    """The tail, then whatever the app writes next, for up to ``seconds`` (a stream)."""
    app_row(slug)
    path = services().hosting.paths.app_log(slug)
    text, position = _read_tail(path, lines)

    def stream() -> Iterator[str]:
        nonlocal position
        yield text
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size < position:  # rotated: start from the top of the new file
                position = 0
            if size > position:
                with path.open("rb") as handle:
                    handle.seek(position)
                    chunk = handle.read(size - position)
                position = size
                yield chunk.decode(errors="replace")
            else:
                yield ""  # lets the server notice a client that went away
                time.sleep(0.5)

    return stream()


def delete_app(slug: str, *, actor: str) -> None:
    """Stop the app, forget it (the audit log keeps its history), free what only it used."""
    hosting = services().hosting
    paths = hosting.paths
    app = app_row(slug)
    record = get_app(slug)
    deployments = list(
        db.session.execute(select(Deployment).where(Deployment.app_id == app.id)).scalars()
    )
    for deployment in deployments:
        hosting.runner.stop(process_name(slug, deployment.id))
    used = {d.environment for d in deployments if d.environment}
    with unit_of_work() as session:
        for model in (AppEnvVar, Deployment):
            for row in session.execute(select(model).where(model.app_id == app.id)).scalars():
                session.delete(row)
        session.delete(app)
        bump_version()
        audit.record(actor, "app.delete", app_target(slug), before=record.to_json())
    hosting.routes.withdraw(slug)
    for folder in (paths.bundles(slug), paths.data(slug), paths.run_dir(slug), paths.logs(slug)):
        shutil.rmtree(folder, ignore_errors=True)
    still = set(db.session.execute(select(Deployment.environment)).scalars())
    for key in sorted(used - still):
        with file_lock(hosting.layout.envs_dir / f"{key}.lock"):
            shutil.rmtree(hosting.layout.envs_dir / key, ignore_errors=True)
        log.info("environment %s freed with %s", key, slug)
