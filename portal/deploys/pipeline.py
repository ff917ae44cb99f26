"""From an uploaded bundle to a serving app: check, unpack, build, start, switch, stop the old.

A deployment is written ``building`` only after its bundle passed every check and was
unpacked, so a refused bundle changes nothing. It becomes ``active`` only once its
processes answer on their socket; then the front door's symlink moves to it and the
previous deployment is stopped. A failed build or start marks it ``failed`` with the
reason, and the previous deployment never stopped serving. One deployment of an app at a
time (a file lock per app), so two uploads never race for the symlink.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from portal import audit
from portal.extensions import db
from portal.hosting.builds import BuildError
from portal.hosting.bundles import BundleError, check_entrypoint, unpack_bundle
from portal.hosting.isolation import app_uid
from portal.hosting.runner import ProcessSpec, StartError
from portal.registry import app_target
from portal.registry.database import file_lock
from portal.registry.models import App, utcnow

from . import current_hosting
from .app_tokens import app_token
from .models import AppEnvVar, Deployment, DeploymentStatus

__all__ = [
    "START_TIMEOUT",
    "DeployError",
    "create_deployment",
    "deployment_json",
    "deployments_of",
    "describe",
    "process_json",
    "process_name",
    "run_deployment",
    "submit",
]

log = logging.getLogger(__name__)

#: How long an app may take from start to answering on its socket (sales generates data).
START_TIMEOUT = 240.0


class DeployError(Exception):
    """A deployment refused before anything changed: a status and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def process_name(slug: str, deployment_id: int) -> str:
    """The supervisor program of one deployment."""
    return f"app-{slug}-{deployment_id}"


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
        state = current_hosting().runner.state(process_name(slug, deployment.id))
    except Exception as error:  # the supervisor is a separate process: say so, do not fail
        log.warning("asking the supervisor about %s failed: %s", slug, error)
        return {"state": "UNKNOWN", "crash_loop": False, "description": "supervisor unreachable"}
    return {
        "state": state.statename,
        "crash_loop": state.crash_loop,
        "description": state.description,
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


def _app_row(slug: str) -> App:
    app = db.session.execute(select(App).where(App.slug == slug)).scalar_one_or_none()
    if app is None:
        raise DeployError(404, f"No app {slug!r}.")
    return app


def create_deployment(slug: str, bundle: bytes, *, entrypoint: str, actor: str) -> Deployment:
    """Check and unpack ``bundle``, then record a ``building`` deployment (not yet started).

    Raises :class:`DeployError` (400/404/413/422) before changing anything.
    """
    paths = current_hosting().paths
    app = _app_row(slug)
    try:
        entrypoint = check_entrypoint(entrypoint)
        incoming = paths.bundles(slug) / f".incoming-{uuid.uuid4().hex}"
        paths.bundles(slug).mkdir(parents=True, exist_ok=True)
        unpack_bundle(bundle, incoming)
    except BundleError as error:
        raise DeployError(error.status, str(error)) from error
    try:
        with audit.transaction() as session:
            deployment = Deployment(
                app_id=app.id,
                status=DeploymentStatus.BUILDING,
                entrypoint=entrypoint,
                created_at=utcnow(),
                created_by=actor,
            )
            session.add(deployment)
            session.flush()
            audit.record(
                actor, "app.deploy", app_target(slug), detail={"deployment": deployment.id}
            )
            incoming.rename(paths.bundle(slug, deployment.id))
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    return deployment


def _environment(app: App, deployment: Deployment, data_dir: str) -> dict[str, str]:
    """What the app's processes see: the platform's few variables, then the app's own."""
    settings = current_hosting().settings
    prefix = f"/apps/{app.slug}/"
    env = {
        "DASH_ROUTES_PATHNAME_PREFIX": prefix,
        "DASH_REQUESTS_PATHNAME_PREFIX": prefix,
        "DASH_APP_ENTRYPOINT": deployment.entrypoint,
        "DASH_APP_SLUG": app.slug,
        "DASH_APP_DATA_DIR": data_dir,
        "DASH_PLATFORM_URL": settings.public_url,
        "DASH_PLATFORM_APP_TOKEN": app_token(settings.secret_key, app.slug),
    }
    own = db.session.execute(select(AppEnvVar).where(AppEnvVar.app_id == app.id)).scalars()
    return {var.name: var.value for var in own} | env


def spec_for(deployment: Deployment, venv: os.PathLike[str]) -> ProcessSpec:
    """How to run ``deployment`` built into ``venv``."""
    hosting = current_hosting()
    paths = hosting.paths
    app = db.session.get(App, deployment.app_id)
    slug = app.slug
    return ProcessSpec(
        name=process_name(slug, deployment.id),
        slug=slug,
        bundle_dir=paths.bundle(slug, deployment.id),
        venv_dir=venv,
        data_dir=paths.data(slug),
        run_dir=paths.run_dir(slug),
        socket_path=paths.socket(slug, deployment.id),
        env=_environment(app, deployment, str(paths.data(slug))),
        uid=app_uid(app.id) if hosting.isolation.per_app_uid else None,
        log_path=paths.app_log(slug),
        url_prefix=f"/apps/{slug}/",
    )


def _finish(deployment: Deployment, status: str, error: str | None = None) -> None:
    deployment.status, deployment.error, deployment.finished_at = status, error, utcnow()


def _switch_to(deployment: Deployment, slug: str) -> list[Deployment]:
    """Point the front door at ``deployment``; returns the deployments it replaced."""
    paths = current_hosting().paths
    link = paths.active_socket(slug)
    staged = link.with_name(f".app.sock.{deployment.id}")
    staged.unlink(missing_ok=True)
    staged.symlink_to(paths.socket(slug, deployment.id).name)
    os.replace(staged, link)
    replaced = list(
        db.session.execute(
            select(Deployment).where(
                Deployment.app_id == deployment.app_id,
                Deployment.status == DeploymentStatus.ACTIVE,
                Deployment.id != deployment.id,
            )
        ).scalars()
    )
    with audit.transaction():
        for old in replaced:
            old.status = DeploymentStatus.INACTIVE
        _finish(deployment, DeploymentStatus.ACTIVE)
    return replaced


def run_deployment(deployment_id: int) -> str:
    """Build and start one ``building`` deployment; returns its final status."""
    hosting = current_hosting()
    deployment = db.session.get(Deployment, deployment_id)
    if deployment is None or deployment.status != DeploymentStatus.BUILDING:
        return deployment.status if deployment else "missing"
    slug = db.session.get(App, deployment.app_id).slug
    paths = hosting.paths
    paths.logs(slug).mkdir(parents=True, exist_ok=True)
    started = False
    with file_lock(paths.lock(slug)), paths.build_log(slug, deployment_id).open("a") as log_file:
        try:
            requirements = (paths.bundle(slug, deployment_id) / "requirements.txt").read_text()
            log_file.write(f"Building the environment of deployment {deployment_id}.\n")
            log_file.flush()
            venv = hosting.builder.ensure(requirements, log_file)
            deployment.environment = venv.name
            spec = spec_for(deployment, venv)
            log_file.write(f"Starting {spec.name} ({spec.workers} workers).\n")
            log_file.flush()
            started = True
            hosting.runner.start(spec)
            hosting.runner.wait_ready(spec, START_TIMEOUT)
        except (BuildError, StartError, OSError, UnicodeDecodeError) as error:
            kind = "build" if not started else "start"
            reason = f"The {kind} failed: {error}"
            log_file.write(reason + "\n")
            if started:
                hosting.runner.stop(process_name(slug, deployment_id))
            with audit.transaction():
                _finish(deployment, DeploymentStatus.FAILED, reason[:4000])
            log.warning("deployment %s of %s failed: %s", deployment_id, slug, error)
            return DeploymentStatus.FAILED
        replaced = _switch_to(deployment, slug)
        log_file.write(f"Serving at /apps/{slug}/.\n")
    for old in replaced:
        hosting.runner.stop(process_name(slug, old.id))
    log.info("deployment %s of %s is active", deployment_id, slug)
    return DeploymentStatus.ACTIVE


def _run_in(app: Flask, deployment_id: int) -> None:
    with app.app_context():
        try:
            run_deployment(deployment_id)
        except Exception:
            log.exception("deployment %s crashed", deployment_id)
            deployment = db.session.get(Deployment, deployment_id)
            if deployment is not None and deployment.status == DeploymentStatus.BUILDING:
                with audit.transaction():
                    _finish(
                        deployment, DeploymentStatus.FAILED, "The platform failed; see its log."
                    )


def submit(deployment_id: int) -> None:
    """Run the deployment in the background (the API answers 202 at once)."""
    app = current_app._get_current_object()
    current_hosting().executor.submit(_run_in, app, deployment_id)
