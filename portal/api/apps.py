"""/api/apps: the apps the caller may open, and each app's settings.

- ``GET /api/apps``: ``{"apps": [...]}``, the portal's list (shown in the portal and
  ``roles.can_view``); anonymous callers get the Unauthenticated apps. Entries carry the
  public fields and ``url``; ``can_manage`` says whether the caller may read and change
  the app's settings.
- ``GET /api/apps/<slug>``: the app's settings. Like Dash Enterprise's App Info, only
  owners, co-owners and admins see them (``Action.VIEW_APP_INFO``): viewers of an app
  may open it but not read who else may. Anonymous 401, unknown 404, others 403.
- ``PATCH /api/apps/<slug>``: change settings; every field needs its own permission
  (``roles.FIELD_ACTIONS``). 400 for a body that is not a JSON object or that names
  unknown fields, 422 for bad values; the answer is the updated settings.
- ``PUT /api/apps/<slug>/thumbnail``: the body is an image (PNG, JPEG, GIF or WebP, at
  most 1 MiB), checked and stored by the portal (``portal.thumbnails``), which becomes the
  app's thumbnail; ``DELETE`` removes it. Needs the right to edit the portal settings;
  413 for a larger body, 422 for one that is not such an image. The answer is the settings.
- ``PUT /api/apps/<slug>/owner``: ``{"owner": "name"}``, admins only; 409 when the new
  owner holds no seat (asked of ``services().directory``).

The registry checks permissions and values of every change and raises its domain
errors (``portal.registry.errors``), which ``portal.errors`` answers with their status.
CSRF and bearer tokens are checked globally before these views run.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from portal import registry
from portal.api import answer, json_object, signed_in
from portal.errors import ApiError
from portal.identity import current_user
from portal.registry import AppRecord
from portal.services import services
from portal.thumbnails import set_thumbnail
from roles import Action, can

__all__ = ["bp", "listing_json", "settings_json"]

bp = Blueprint("api_apps", __name__, url_prefix="/api/apps")


def listing_json(record: AppRecord, *, can_manage: bool) -> dict[str, Any]:
    """An entry of the app list: what anyone who may open the app may know."""
    return {
        "slug": record.slug,
        "title": record.title,
        "description": record.description,
        "tags": list(record.tags),
        "owner": record.owner,
        "access": record.access.value,
        "thumbnail": record.thumbnail,
        "url": record.url,
        "can_manage": can_manage,
    }


def settings_json(record: AppRecord) -> dict[str, Any]:
    """An app's settings: the contract's shape plus its URL, thumbnail and timestamps."""
    return record.to_json() | {
        "url": record.url,
        "thumbnail": record.thumbnail,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


def _app_or_404(slug: str) -> AppRecord:
    record = registry.get_app(slug)
    if record is None:
        raise ApiError(404, f"No app {slug!r}.")
    return record


@bp.get("", strict_slashes=False)
def list_apps() -> Response:
    """The apps the caller may open (anonymous: the Unauthenticated ones)."""
    user = current_user()
    # The apps the caller manages are those whose App Info roles.can lets them see.
    managed = {r.slug for r in registry.apps_managed_by(user)} if user else set()
    return answer(
        {
            "apps": [
                listing_json(r, can_manage=r.slug in managed)
                for r in registry.apps_visible_to(user)
            ]
        }
    )


@bp.get("/<slug>")
def get_settings(slug: str) -> Response:
    """One app's settings, for its owner, co-owners and admins."""
    user = signed_in()
    record = _app_or_404(slug)
    if not can(user, Action.VIEW_APP_INFO, record):
        raise ApiError(403, f"Only the owner, co-owners and admins see the settings of {slug!r}.")
    return answer(settings_json(record))


@bp.patch("/<slug>")
def patch_settings(slug: str) -> Response:
    """Change some of an app's settings; all of them or none."""
    user = signed_in()
    updated = registry.update_app(slug, json_object(), actor=user)
    return answer(settings_json(updated))


@bp.put("/<slug>/thumbnail")
def put_thumbnail(slug: str) -> Response:
    """Upload the app's thumbnail: the body is the image."""
    updated = set_thumbnail(slug, request.get_data(cache=False), actor=signed_in())
    return answer(settings_json(updated))


@bp.delete("/<slug>/thumbnail")
def delete_thumbnail(slug: str) -> Response:
    """Remove the app's thumbnail."""
    return answer(settings_json(set_thumbnail(slug, None, actor=signed_in())))


@bp.put("/<slug>/owner")
def put_owner(slug: str) -> Response:
    """Transfer an app to a new owner, who must hold a seat."""
    user = signed_in()
    body = json_object()
    unknown = sorted(set(body) - {"owner"})
    if unknown:
        raise ApiError(400, f"Unknown fields: {', '.join(unknown)}.", unknown=unknown)
    if "owner" not in body:
        raise ApiError(400, 'The body must name the new owner: {"owner": "name"}.')
    updated = registry.transfer_owner(
        slug, body["owner"], actor=user, holds_seat=_seat_in_directory
    )
    return answer(settings_json(updated))


def _seat_in_directory(username: str) -> bool:
    """Whether Keycloak says ``username`` holds a seat; 503 when it cannot say."""
    directory = services().directory
    try:
        return bool(directory.is_licensed(username))
    except Exception as error:  # the directory is Keycloak over the network
        current_app.logger.warning("directory lookup of %r failed: %s", username, error)
        raise ApiError(503, "The user directory did not answer; try again.") from error
