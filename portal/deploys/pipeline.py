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
import time
import uuid

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
from portal.services import services
from portal.unit_of_work import unit_of_work

from . import env_vars
from .app_tokens import app_token
from .models import Deployment, DeploymentStatus

__all__ = [
    "START_TIMEOUT",
    "DeployError",
    "active_deployment",
    "app_row",
    "create_deployment",
    "process_name",
    "run_deployment",
    "submit",
    "switch_to",
    "system_environment",
]

log = logging.getLogger(__name__)

#: How long an app may take from start to answering on its socket (sales generates data).
START_TIMEOUT = 240.0
#: After the switch, how long the old version still accepts what the front door sent it
#: just before (connections in its listen queue); then it stops, finishing what it has.
DRAIN_SECONDS = 2.0


class DeployError(Exception):
    """A deployment or an operation refused, nothing changed: a status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def process_name(slug: str, deployment_id: int) -> str:
    """The supervisor program of one deployment."""
    return f"app-{slug}-{deployment_id}"


def app_row(slug: str) -> App:
    """The app's row; DeployError 404 when there is none."""
    app = db.session.execute(select(App).where(App.slug == slug)).scalar_one_or_none()
    if app is None:
        raise DeployError(404, f"No app {slug!r}.")
    return app


def create_deployment(slug: str, bundle: bytes, *, entrypoint: str, actor: str) -> Deployment:
    """Check and unpack ``bundle``, then record a ``building`` deployment (not yet started).

    Raises :class:`DeployError` (400/404/413/422) before changing anything.
    """
    paths = services().hosting.paths
    app = app_row(slug)
    try:
        entrypoint = check_entrypoint(entrypoint)
        incoming = paths.bundles(slug) / f".incoming-{uuid.uuid4().hex}"
        paths.bundles(slug).mkdir(parents=True, exist_ok=True)
        unpack_bundle(bundle, incoming)
    except BundleError as error:
        raise DeployError(error.status, str(error)) from error
    try:
        with unit_of_work() as session:
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


def _platform_environment(app: App, entrypoint: str) -> dict[str, str]:
    """The variables the platform gives every process of ``app``."""
    hosting = services().hosting
    prefix = f"/apps/{app.slug}/"
    return {
        "DASH_ROUTES_PATHNAME_PREFIX": prefix,
        "DASH_REQUESTS_PATHNAME_PREFIX": prefix,
        "DASH_APP_ENTRYPOINT": entrypoint,
        "DASH_APP_SLUG": app.slug,
        "DASH_APP_DATA_DIR": str(hosting.paths.data(app.slug)),
        "DASH_PLATFORM_URL": hosting.settings.internal_url or hosting.settings.public_url,
        "DASH_PLATFORM_APP_TOKEN": app_token(hosting.settings.secret_key, app.slug),
    }


def system_environment(app: App) -> dict[str, str]:
    """The platform's variables as an owner may see them (read-only; the token hidden)."""
    active = active_deployment(app.id)
    env = _platform_environment(app, active.entrypoint if active else "app:app")
    env["DASH_PLATFORM_APP_TOKEN"] = "(set by the platform)"  # noqa: S105 - a placeholder
    return env


def spec_for(deployment: Deployment, venv: os.PathLike[str]) -> ProcessSpec:
    """How to run ``deployment`` built into ``venv``."""
    hosting = services().hosting
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
        env=env_vars.values(app.id) | _platform_environment(app, deployment.entrypoint),
        workers=app.workers,
        memory_limit_mb=app.memory_limit_mb,
        idle_timeout_s=app.idle_timeout_s,
        uid=app_uid(app.id) if hosting.isolation.per_app_uid else None,
        log_path=paths.app_log(slug),
        url_prefix=f"/apps/{slug}/",
    )


def _finish(deployment: Deployment, status: str, error: str | None = None) -> None:
    deployment.status, deployment.error, deployment.finished_at = status, error, utcnow()


def active_deployment(app_id: int) -> Deployment | None:
    """The deployment the front door sends the app's traffic to."""
    return db.session.execute(
        select(Deployment).where(
            Deployment.app_id == app_id, Deployment.status == DeploymentStatus.ACTIVE
        )
    ).scalar_one_or_none()


def switch_to(deployment: Deployment, slug: str) -> list[Deployment]:
    """Point the front door at ``deployment``; returns the deployments it replaced."""
    paths = services().hosting.paths
    link = paths.active_socket(slug)
    staged = link.with_name(f".app.sock.{deployment.id}")
    staged.unlink(missing_ok=True)
    staged.symlink_to(paths.socket(slug, deployment.id).name)
    os.replace(staged, link)
    services().hosting.routes.publish(slug)
    replaced = list(
        db.session.execute(
            select(Deployment).where(
                Deployment.app_id == deployment.app_id,
                Deployment.status == DeploymentStatus.ACTIVE,
                Deployment.id != deployment.id,
            )
        ).scalars()
    )
    with unit_of_work():
        for old in replaced:
            old.status = DeploymentStatus.INACTIVE
        _finish(deployment, DeploymentStatus.ACTIVE)
    return replaced


def run_deployment(deployment_id: int) -> str:
    """Build and start one ``building`` deployment; returns its final status."""
    hosting = services().hosting
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
            with unit_of_work():
                _finish(deployment, DeploymentStatus.FAILED, reason[:4000])
            log.warning("deployment %s of %s failed: %s", deployment_id, slug, error)
            return DeploymentStatus.FAILED
        replaced = switch_to(deployment, slug)
        log_file.write(f"Serving at /apps/{slug}/.\n")
        # Still under the app's lock: a roll back started right now waits for this.
        if replaced:
            time.sleep(DRAIN_SECONDS)
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
                with unit_of_work():
                    _finish(
                        deployment, DeploymentStatus.FAILED, "The platform failed; see its log."
                    )


def submit(deployment_id: int) -> None:
    """Run the deployment in the background (the API answers 202 at once)."""
    app = current_app._get_current_object()
    services().hosting.executor.submit(_run_in, app, deployment_id)
