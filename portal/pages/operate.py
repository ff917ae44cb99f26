"""The App Manager's operating forms: processes, environment, logs and delete of one app.

Plain HTML forms (CSRF-checked globally) over the same domain functions as the API, with
the same permission (``Action.OPERATE_APP``, seed 002's table). Each form returns to the
app's page with a message saying what happened.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request, url_for

from portal import audit, registry
from portal.api.operations import operator_of
from portal.auth.decorators import requires
from portal.deploys import env_vars
from portal.deploys.operations import activate, delete_app, set_running
from portal.deploys.pipeline import DeployError
from portal.pages import redirect_back
from portal.registry import RegistryError, app_target
from portal.unit_of_work import unit_of_work
from roles import Action

__all__ = ["bp"]

bp = Blueprint("operate", __name__)


def _back(slug: str, message: str, category: str = "ok") -> Any:
    return redirect_back(url_for("manager.app_settings", slug=slug), message, category)


@bp.post("/apps/<slug>/control/<any(restart, stop, start):action>")
@requires(Action.VIEW_APP_MANAGER)
def control(slug: str, action: str) -> Any:
    """Start, stop or restart the app's processes."""
    user, _ = operator_of(slug)
    try:
        state = set_running(slug, action, actor=user.username)
    except DeployError as error:
        return _back(slug, error.message, "error")
    return _back(slug, f"{slug}: {state}.")


@bp.post("/apps/<slug>/deployments/<int:deployment_id>/activate")
@requires(Action.VIEW_APP_MANAGER)
def activate_deployment(slug: str, deployment_id: int) -> Any:
    """Serve a deployment that was built before (roll back or forward)."""
    user, _ = operator_of(slug)
    try:
        activate(slug, deployment_id, actor=user.username)
    except DeployError as error:
        return _back(slug, error.message, "error")
    return _back(slug, f"Deployment {deployment_id} is serving.")


@bp.post("/apps/<slug>/env")
@requires(Action.VIEW_APP_MANAGER)
def set_env(slug: str) -> Any:
    """Set one variable (the value is write-only); it applies at the next start."""
    user, app = operator_of(slug)
    name = request.form.get("name", "").strip()
    try:
        env_vars.check_name(name)
        with unit_of_work():
            env_vars.store(app.id, name, request.form.get("value", ""))
            audit.record(user.username, "app.env.set", app_target(slug), detail={"name": name})
    except env_vars.EnvVarError as error:
        return _back(slug, str(error), "error")
    return _back(slug, f"{name} is set. Restart the app to apply it.")


@bp.post("/apps/<slug>/env/<name>/delete")
@requires(Action.VIEW_APP_MANAGER)
def unset_env(slug: str, name: str) -> Any:
    """Unset one variable."""
    user, app = operator_of(slug)
    with unit_of_work():
        removed = env_vars.remove(app.id, name)
        if removed:
            audit.record(user.username, "app.env.unset", app_target(slug), detail={"name": name})
    if not removed:
        return _back(slug, f"{name} was not set.", "error")
    return _back(slug, f"{name} is unset. Restart the app to apply it.")


@bp.post("/apps/<slug>/delete")
@requires(Action.VIEW_APP_MANAGER)
def delete(slug: str) -> Any:
    """Delete the app once its slug is typed to confirm."""
    user, _ = operator_of(slug)
    if request.form.get("confirm", "").strip() != slug:
        return _back(slug, f"Type {slug} to confirm the deletion.", "error")
    try:
        delete_app(slug, actor=user.username)
    except DeployError as error:
        return _back(slug, error.message, "error")
    return redirect_back(url_for("manager.index"), f"{slug} is deleted.")


@bp.post("/apps/<slug>/processes")
@requires(Action.VIEW_APP_MANAGER)
def processes(slug: str) -> Any:
    """Workers and idle timeout (owners, admins), memory limit (admins): at the next start."""
    user, _ = operator_of(slug)
    changes: dict[str, Any] = {}
    for field in ("workers", "idle_timeout_s", "memory_limit_mb"):
        raw = request.form.get(field)
        if raw is None:
            continue
        raw = raw.strip()
        try:
            changes[field] = int(raw) if raw else None
        except ValueError:
            return _back(slug, f"{field} must be a whole number.", "error")
    try:
        registry.update_app(slug, changes, actor=user)
    except RegistryError as error:
        return _back(slug, error.message, "error")
    return _back(slug, "Saved. Restart the app to apply it.")
