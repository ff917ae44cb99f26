"""The deployment API of the contract: create an app, upload bundles, follow their builds.

- ``POST /api/apps`` ``{"slug", "title"}``: a licensed user creates an app and owns it
  (201; 409 when the slug is taken; 422 for a bad slug).
- ``POST /api/apps/<slug>/deployments?entrypoint=app:app``, body: the bundle as tar.gz:
  202 ``{"id", "status": "building"}``; 400/413/422 for a bad bundle, with nothing changed.
  Owners and co-owners deploy; an admin only when also a licensed user (seed 002).
- ``GET /api/apps/<slug>/deployments`` (newest first), ``.../<id>``, ``.../<id>/log``:
  owners, co-owners and admins.

Bearer tokens and the session cookie (with ``X-CSRF-Token``) are checked before these run.
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from sqlalchemy import select

from portal import registry
from portal.api import answer, json_object, signed_in
from portal.deploys.models import Deployment
from portal.deploys.operations import create_app as create_hosted_app
from portal.deploys.pipeline import DeployError, create_deployment, submit
from portal.deploys.status import deployments_of, describe
from portal.errors import ApiError
from portal.extensions import db
from portal.identity import User
from portal.registry import AppRecord
from portal.registry.models import App
from portal.services import services
from roles import Action, can

from .apps import settings_json

__all__ = ["BUNDLE_LIMIT", "bp"]

bp = Blueprint("api_deployments", __name__, url_prefix="/api/apps")

#: The largest bundle accepted (the front door allows a little more, so this answers).
BUNDLE_LIMIT = 50 * 1024 * 1024
_GZIP_TYPES = {"application/gzip", "application/x-gzip", "application/x-tar+gzip"}


def _managed_app(slug: str, action: Action = Action.VIEW_APP_INFO) -> tuple[User, AppRecord]:
    user = signed_in()
    record = registry.get_app(slug)
    if record is None:
        raise ApiError(404, f"No app {slug!r}.")
    if not can(user, action, record):
        if action is Action.DEPLOY_APP:
            raise ApiError(
                403,
                f"Only the owner and co-owners of {slug!r} deploy it "
                "(an admin too, when also a licensed user).",
            )
        raise ApiError(
            403, f"Only the owner, co-owners and admins see the deployments of {slug!r}."
        )
    return user, record


def _deployment(slug: str, deployment_id: int) -> Deployment:
    found = db.session.execute(
        select(Deployment)
        .join(App, App.id == Deployment.app_id)
        .where(App.slug == slug, Deployment.id == deployment_id)
    ).scalar_one_or_none()
    if found is None:
        raise ApiError(404, f"No deployment {deployment_id} of {slug!r}.")
    return found


@bp.post("", strict_slashes=False)
def create_app() -> Response:
    """Create an app owned by the caller: Restricted and hidden until they share it."""
    user = signed_in()
    body = json_object('{"slug": ..., "title": ...}')
    unknown = sorted(set(body) - {"slug", "title", "description"})
    if unknown:
        raise ApiError(400, f"Unknown fields: {', '.join(unknown)}.", unknown=unknown)
    slug = body.get("slug")
    if not isinstance(slug, str):
        raise ApiError(422, "slug must be a string of lower-case letters, digits and dashes.")
    record = create_hosted_app(
        slug, owner=user, title=body.get("title"), description=body.get("description") or ""
    )
    response = answer(settings_json(record), 201)
    response.headers["Location"] = f"/api/apps/{record.slug}"
    return response


@bp.post("/<slug>/deployments")
def deploy(slug: str) -> Response:
    """Accept a bundle and build it in the background: 202 at once."""
    user, _ = _managed_app(slug, Action.DEPLOY_APP)
    if request.mimetype not in _GZIP_TYPES:
        raise ApiError(400, "Send the bundle as a tar.gz with Content-Type: application/gzip.")
    request.max_content_length = BUNDLE_LIMIT
    bundle = request.get_data(cache=False)
    if not bundle:
        raise ApiError(400, "The body is empty: send the bundle as a tar.gz.")
    try:
        deployment = create_deployment(
            slug,
            bundle,
            entrypoint=request.args.get("entrypoint", "app:app"),
            actor=user.username,
        )
    except DeployError as error:
        raise ApiError(error.status, error.message) from error
    submit(deployment.id)
    response = answer({"id": deployment.id, "status": deployment.status}, 202)
    response.headers["Location"] = f"/api/apps/{slug}/deployments/{deployment.id}"
    return response


@bp.get("/<slug>/deployments")
def list_deployments(slug: str) -> Response:
    """The app's deployments, newest first."""
    _managed_app(slug)
    return answer({"deployments": [describe(slug, d) for d in deployments_of(slug)]})


@bp.get("/<slug>/deployments/<int:deployment_id>")
def get_deployment(slug: str, deployment_id: int) -> Response:
    """One deployment's status (and why it failed)."""
    _managed_app(slug)
    return answer(describe(slug, _deployment(slug, deployment_id)))


@bp.get("/<slug>/deployments/<int:deployment_id>/log")
def deployment_log(slug: str, deployment_id: int) -> Response:
    """The build log of one deployment, as text."""
    _managed_app(slug)
    _deployment(slug, deployment_id)
    path = services().hosting.paths.build_log(slug, deployment_id)
    text = path.read_text(errors="replace") if path.exists() else ""
    response = Response(text, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response
