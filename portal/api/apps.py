"""/api/apps: the apps the caller may open, and each app's settings.

- ``GET /api/apps``: ``{"apps": [...]}``, the portal's list (shown in the portal and
  ``roles.can_view``); anonymous callers get the Unauthenticated apps. Entries carry the
  public fields and ``url``; ``can_manage`` says whether the caller may read and change
  the app's settings.
- ``GET /api/apps/<slug>``: the app's settings. Like Dash Enterprise's App Info, only
  owners, co-owners and admins see them (``Action.VIEW_APP_INFO``): viewers of an app
  may open it but not read who else may. Anonymous 401, unknown 404, others 403.
- ``PATCH /api/apps/<slug>``: change settings; every field needs its own permission
  (see ``portal.registry.writes``). 400 for a body that is not a JSON object or that
  names unknown fields, 422 for bad values; the answer is the updated settings.
- ``PUT /api/apps/<slug>/thumbnail``: the body is an image (PNG, JPEG, GIF or WebP, at
  most 1 MiB), checked and stored by the portal (``portal.thumbnails``), which becomes the
  app's thumbnail; ``DELETE`` removes it. Needs the right to edit the portal settings;
  413 for a larger body, 422 for one that is not such an image. The answer is the settings.
- ``PUT /api/apps/<slug>/owner``: ``{"owner": "name"}``, admins only; 409 when the new
  owner holds no ``licensed_user`` seat (asked of ``services().directory``).

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
from portal.registry.validation import check_username
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
    # Only apps the caller manages can pass VIEW_APP_INFO: ask roles.can about those alone
    # (asking about every app costs milliseconds at 1,000 apps).
    managed = {r.slug: r for r in registry.apps_managed_by(user)} if user else {}
    return answer(
        {
            "apps": [
                listing_json(
                    r,
                    can_manage=r.slug in managed and can(user, Action.VIEW_APP_INFO, r),
                )
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
    record = _app_or_404(slug)
    if not can(user, Action.VIEW_APP_INFO, record):
        raise ApiError(403, f"Only the owner, co-owners and admins manage {slug!r}.")
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
    """Transfer an app to a new owner, who must hold a licensed_user seat."""
    user = signed_in()
    if not can(user, Action.TRANSFER_APPS):
        raise ApiError(403, "Only admins transfer apps.")
    _app_or_404(slug)
    body = json_object()
    unknown = sorted(set(body) - {"owner"})
    if unknown:
        raise ApiError(400, f"Unknown fields: {', '.join(unknown)}.", unknown=unknown)
    if "owner" not in body:
        raise ApiError(400, 'The body must name the new owner: {"owner": "name"}.')
    new_owner = check_username(body["owner"], field="owner")  # 422 before asking Keycloak
    directory = services().directory
    try:
        licensed = bool(directory.is_licensed(new_owner))
    except Exception as error:  # the directory is Keycloak over the network
        current_app.logger.warning("directory lookup of %r failed: %s", new_owner, error)
        raise ApiError(503, "The user directory did not answer; try again.") from error
    updated = registry.transfer_owner(slug, new_owner, actor=user, new_owner_is_licensed=licensed)
    return answer(settings_json(updated))
