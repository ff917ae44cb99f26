"""Operating an app (the contract's "Operating an app"): owners, co-owners and admins.

- ``POST /api/apps/<slug>/deployments/<id>/activate``: 200, that built deployment serves.
- ``GET /api/apps/<slug>/logs?tail=N`` (``&follow=1`` streams): the app's own output.
- ``GET /api/apps/<slug>/env``: ``{"names": [...], "system": {...}}``; values never return.
- ``PUT`` / ``DELETE /api/apps/<slug>/env/<NAME>``: 204, applies at the next start.
- ``POST /api/apps/<slug>/restart`` (``/stop``, ``/start``): 202.
- ``DELETE /api/apps/<slug>``: 204, processes stopped, app gone.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request, stream_with_context

from portal import audit, registry
from portal.api import answer, json_object, signed_in
from portal.deploys import env_vars
from portal.deploys.operations import (
    activate,
    delete_app,
    follow_log,
    set_running,
    tail_log,
)
from portal.deploys.pipeline import DeployError, system_environment
from portal.deploys.status import describe
from portal.errors import ApiError
from portal.extensions import db
from portal.identity import User
from portal.registry import app_target
from portal.registry.models import App
from portal.unit_of_work import unit_of_work
from roles import Action, can

__all__ = ["bp", "operator_of"]

bp = Blueprint("api_operations", __name__, url_prefix="/api/apps")

_MAX_TAIL = 10_000


def operator_of(slug: str) -> tuple[User, App]:
    """The caller and the app, if the caller may operate it (seed 002); else 401/403/404."""
    user = signed_in()
    record = registry.get_app(slug)
    if record is None:
        raise ApiError(404, f"No app {slug!r}.")
    if not can(user, Action.OPERATE_APP, record):
        raise ApiError(403, f"Only the owner, co-owners and admins operate {slug!r}.")
    return user, db.session.execute(db.select(App).where(App.slug == slug)).scalar_one()


def _empty(status: int) -> Response:
    return Response(status=status, headers={"Cache-Control": "no-store"})


def _run(operation: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return operation(*args, **kwargs)
    except DeployError as error:
        raise ApiError(error.status, error.message) from error


@bp.post("/<slug>/deployments/<int:deployment_id>/activate")
def activate_deployment(slug: str, deployment_id: int) -> Response:
    """Roll back or forward to a deployment that was built before."""
    user, _ = operator_of(slug)
    return answer(describe(slug, _run(activate, slug, deployment_id, actor=user.username)))


@bp.get("/<slug>/logs")
def logs(slug: str) -> Response:
    """The app's output, newest last; ``follow=1`` keeps the answer open and streams."""
    operator_of(slug)
    try:
        lines = min(max(int(request.args.get("tail", "200")), 0), _MAX_TAIL)
    except ValueError as error:
        raise ApiError(400, "tail must be a whole number of lines.") from error
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if request.args.get("follow") in ("1", "true", "yes"):
        stream = stream_with_context(_run(follow_log, slug, lines))
        return Response(stream, mimetype="text/plain", headers=headers)
    return Response(_run(tail_log, slug, lines), mimetype="text/plain", headers=headers)


@bp.get("/<slug>/env")
def list_env(slug: str) -> Response:
    """The names of the app's variables, and the platform's own (read-only)."""
    _, app = operator_of(slug)
    return answer({"names": env_vars.names(app.id), "system": system_environment(app)})


@bp.route("/<slug>/env/<name>", methods=["PUT", "DELETE"])
def change_env(slug: str, name: str) -> Response:
    """Set (PUT ``{"value"}``) or unset (DELETE) one variable; applies at the next start."""
    user, app = operator_of(slug)
    try:
        env_vars.check_name(name)
        if request.method == "PUT":
            body = json_object('{"value": "..."}')
            if set(body) != {"value"}:
                raise ApiError(400, 'The body must be {"value": "..."}.')
            with unit_of_work():
                env_vars.store(app.id, name, body["value"])
                audit.record(user.username, "app.env.set", app_target(slug), detail={"name": name})
            return _empty(204)
        with unit_of_work():
            if not env_vars.remove(app.id, name):
                raise ApiError(404, f"{name} is not set for {slug!r}.")
            audit.record(user.username, "app.env.unset", app_target(slug), detail={"name": name})
    except env_vars.EnvVarError as error:
        raise ApiError(422, str(error)) from error
    return _empty(204)


@bp.post("/<slug>/<any(restart, stop, start):action>")
def run_control(slug: str, action: str) -> Response:
    """Start, stop or restart the app's processes (answered at once)."""
    user, _ = operator_of(slug)
    state = _run(set_running, slug, action, actor=user.username)
    return answer({"status": state}, 202)


@bp.delete("/<slug>")
def delete(slug: str) -> Response:
    """Stop the app and remove it (404 afterwards); the audit log keeps its history."""
    user, _ = operator_of(slug)
    _run(delete_app, slug, actor=user.username)
    return _empty(204)
