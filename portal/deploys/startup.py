"""Bringing hosted apps up: ``flask platform start`` (run by `make up` and the tests).

It runs after ``flask db upgrade``. It registers the contract's demo apps (unless
``PORTAL_SEED_APPS=0``), publishes the app library for the builder, marks deployments
that a stopped platform left ``building`` as failed, makes sure every active deployment
has its processes, and deploys the built-in apps of app/<slug>/ that were never
deployed, through the same pipeline as anyone's upload.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from portal.extensions import db
from portal.hosting.builds import build_wheel
from portal.hosting.bundles import pack_directory
from portal.hosting.memwatch import WATCHDOG
from portal.registry import DEFAULT_APPS, seed_default_apps
from portal.registry.models import App
from portal.services import services
from portal.unit_of_work import unit_of_work

from . import APPKIT_DIR, ROOT, env_vars
from .models import Deployment, DeploymentStatus
from .pipeline import create_deployment, process_name, run_deployment, spec_for

__all__ = ["BUILTIN_APPS_DIR", "builtin_env", "cli", "deploy_builtin_apps", "publish_appkit"]

BUILTIN_APPS_DIR = ROOT / "app"
SYSTEM_ACTOR = "system"

cli = AppGroup("platform", help="Run the hosted apps.")


def _source_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        skipped = {"__pycache__", "build"} & set(path.relative_to(folder).parts)
        if path.is_file() and not skipped and ".egg-info" not in str(path):
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def publish_appkit() -> Path:
    """Build the app library's wheel into the builder's find-links folder, when it changed."""
    hosting = services().hosting
    wheels = hosting.layout.wheels_dir
    stamp = wheels / ".source-hash"
    source = _source_hash(APPKIT_DIR)
    existing = sorted(wheels.glob("*.whl"))
    if existing and stamp.exists() and stamp.read_text() == source:
        return existing[-1]
    for old in existing:
        old.unlink()
    wheel = build_wheel(APPKIT_DIR, wheels, uv=hosting.uv)
    stamp.write_text(source)
    return wheel


def mark_interrupted() -> int:
    """Deployments left ``building`` by a stopped platform are failed, with the reason."""
    stale = db.session.execute(
        select(Deployment).where(Deployment.status == DeploymentStatus.BUILDING)
    ).scalars()
    count = 0
    with unit_of_work():
        for deployment in stale:
            deployment.status = DeploymentStatus.FAILED
            deployment.error = "Interrupted: the platform stopped during this deployment."
            count += 1
    return count


def ensure_running() -> list[str]:
    """Start the processes of every active deployment that supervisord does not know."""
    hosting = services().hosting
    started = []
    active = db.session.execute(
        select(Deployment).where(Deployment.status == DeploymentStatus.ACTIVE)
    ).scalars()
    for deployment in active:
        app = db.session.get(App, deployment.app_id)
        slug = app.slug
        hosting.routes.publish(slug)
        if app.stopped:  # its owner stopped it: it stays stopped across restarts
            continue
        if hosting.runner.state(process_name(slug, deployment.id)).statename != "ABSENT":
            continue
        spec = spec_for(deployment, hosting.layout.envs_dir / (deployment.environment or ""))
        hosting.runner.start(spec)
        started.append(slug)
    return started


def builtin_env(slug: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """What a built-in app starts with: the platform's variables in the app's own
    namespace (``SALES_*`` for sales), which the portal itself never reads. Its owner may
    change them later."""
    prefix = slug.upper().replace("-", "_") + "_"
    return {name: value for name, value in environ.items() if name.startswith(prefix) and value}


def deploy_builtin_apps(say: Callable[[str], None] = print) -> dict[str, str]:
    """Deploy each registered built-in app that has never been deployed; slug → status."""
    results: dict[str, str] = {}
    for spec in DEFAULT_APPS:
        slug = spec["slug"]
        app = db.session.execute(select(App).where(App.slug == slug)).scalar_one_or_none()
        folder = BUILTIN_APPS_DIR / slug
        if app is None or not folder.is_dir():
            continue
        if db.session.execute(select(Deployment.id).where(Deployment.app_id == app.id)).first():
            continue
        with unit_of_work():
            for name, value in builtin_env(slug).items():
                env_vars.store(app.id, name, value)
        deployment = create_deployment(
            slug, pack_directory(folder), entrypoint="app:app", actor=SYSTEM_ACTOR
        )
        say(f"apps: deploying built-in app {slug} (deployment {deployment.id})")
        results[slug] = run_deployment(deployment.id)
        say(f"apps: {slug} {results[slug]}")
    return results


def ensure_watchdog() -> None:
    """The memory watchdog (portal.hosting.memwatch) runs next to the apps, under supervisord."""
    supervisor = services().hosting.supervisor
    supervisor.add_program(
        WATCHDOG,
        command=[
            sys.executable,
            "-m",
            "portal.hosting.memwatch",
            str(supervisor.root),
            f"--run={services().hosting.layout.apps_run_dir}",
        ],
        env={},
        directory=ROOT,
        log_path=supervisor.root / "memwatch.log",
    )


@cli.command("start")
def start_command() -> None:
    """Register the demo apps, publish the app library, recover, start active apps, deploy
    the built-in ones. The schema must be current (``flask db upgrade`` runs first)."""
    hosting = services().hosting
    if hosting.settings.seed_apps:
        for slug in seed_default_apps():
            click.echo(f"registry: registered {slug}")
    hosting.paths.make()
    publish_appkit()
    ensure_watchdog()
    interrupted = mark_interrupted()
    if interrupted:
        click.echo(f"apps: {interrupted} interrupted deployment(s) marked failed")
    click.echo(f"apps: isolation: {hosting.isolation.describe()}")
    for slug in ensure_running():
        click.echo(f"apps: started {slug}")
    failed = [s for s, status in deploy_builtin_apps(click.echo).items() if status != "active"]
    if failed:
        raise click.ClickException(f"built-in apps failed to deploy: {', '.join(failed)}")
