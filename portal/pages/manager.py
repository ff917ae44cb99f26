"""The App Manager (/manager): the apps you own or co-own, and each one's settings.

Licensed users see the apps they own or co-own, admins see all of them. Settings are
saved by the page's script through ``PATCH /api/apps/<slug>``; the form offers the
fields ``roles.can_change`` allows, the same rule the registry applies to every change,
so this module only renders, suggests names and initializes apps.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for

from portal import registry
from portal.auth.decorators import requires
from portal.deploys.operations import create_app
from portal.deploys.status import deployments_of, describe
from portal.errors import ApiError
from portal.identity import current_user
from portal.keycloak_admin import DirectoryError
from portal.pages import ACCESS_LABELS, redirect_back
from portal.pages.charts import daily_chart
from portal.pages.operate_view import operating_view
from portal.registry import AppRecord, RegistryError
from portal.services import services
from portal.thumbnails import MAX_BYTES, ThumbnailError, set_thumbnail
from roles import FIELD_ACTIONS, Action, can, can_change

__all__ = ["bp"]

log = logging.getLogger(__name__)

bp = Blueprint("manager", __name__)

_SUGGEST_KINDS = ("user", "group")
_ANALYTICS_DAYS = 30


@bp.get("/")
@requires(Action.VIEW_APP_MANAGER)
def index() -> str:
    """The apps the user manages, and the form to create a new one."""
    user = current_user()
    apps = registry.apps_managed_by(user)
    may_create = can(user, Action.INITIALIZE_APP)
    return render_template("manager.html", section="manager", apps=apps, may_create=may_create)


def _managed_app(slug: str) -> AppRecord:
    """The app, if the user may manage it: 404 unknown, 403 not theirs."""
    app = registry.get_app(slug)
    if app is None:
        abort(404, f"No app {slug!r}.")
    if not can(current_user(), Action.VIEW_APP_INFO, app):
        raise ApiError(403, f"Only the owner, co-owners and admins manage {app.title!r}.")
    return app


@bp.get("/apps/<slug>")
@requires(Action.VIEW_APP_MANAGER)
def app_settings(slug: str) -> str:
    """One app's settings page: viewer access, co-owners, portal settings, analytics."""
    user = current_user()
    app = _managed_app(slug)
    # Which settings the form lets this user change: the rule the registry applies too.
    may = {field: can_change(user, field, app) for field in FIELD_ACTIONS}
    analytics = can(user, Action.USE_VIEWER_ANALYTICS, app)
    chart, totals = None, None
    if analytics:
        rows = registry.views_per_day(slug, days=_ANALYTICS_DAYS)
        days = [day for day, _, _ in rows]
        views = [views for _, views, _ in rows]
        unique = [unique for _, _, unique in rows]
        totals = {"views": sum(views), "busiest": max(unique, default=0), "days": len(rows)}
        chart = daily_chart(
            days,
            {"Views": views, "Unique viewers": unique},
            title=f"Views per day, last {_ANALYTICS_DAYS} days",
            bars=("Views",),
        )
    policy = registry.get_policy()
    return render_template(
        "manager_app.html",
        unknown=unknown_grants(app),
        section="manager",
        app=app,
        may=may,
        deployments=[describe(slug, d) for d in deployments_of(slug)],
        operate=operating_view(app, user),
        chart=chart,
        totals=totals,
        analytics=analytics,
        levels=[(level, ACCESS_LABELS[level], policy.allows(level)) for level in ACCESS_LABELS],
    )


@bp.post("/initialize")
@requires(Action.INITIALIZE_APP)
def initialize() -> Any:
    """Create a new app owned by the user, to deploy bundles to."""
    slug = request.form.get("slug", "").strip()
    title = request.form.get("title", "").strip() or None
    try:
        record = create_app(slug, owner=current_user(), title=title)
    except RegistryError as error:
        return redirect_back(url_for("manager.index"), error.message, "error")
    return redirect_back(
        url_for("manager.app_settings", slug=record.slug),
        f"{record.title} is created: deploy a bundle to it. It is Restricted and hidden "
        "from the portal until you share it.",
    )


@bp.post("/apps/<slug>/thumbnail")
@requires(Action.VIEW_APP_MANAGER)
def thumbnail(slug: str) -> Any:
    """Upload (field ``image``) or remove (field ``remove``) the app's thumbnail."""
    back = url_for("manager.app_settings", slug=slug)
    if request.form.get("remove"):
        set_thumbnail(slug, None, actor=current_user())
        return redirect_back(back, "The thumbnail is removed.")
    upload = request.files.get("image")
    if upload is None or not upload.filename:
        return redirect_back(back, "Choose an image to upload.", "error")
    try:
        # One byte more than allowed is enough to tell it is too large.
        set_thumbnail(slug, upload.read(MAX_BYTES + 1), actor=current_user())
    except ThumbnailError as error:
        return redirect_back(back, error.message, "error")
    return redirect_back(back, "The thumbnail is saved.")


@bp.get("/suggest")
@requires(Action.VIEW_APP_MANAGER)
def suggest() -> Any:
    """Usernames or group paths for the viewer and co-owner pickers (JSON)."""
    kind = request.args.get("kind", "user")
    query = request.args.get("q", "").strip()[:100]
    if kind not in _SUGGEST_KINDS:
        return jsonify({"error": "kind must be user or group", "suggestions": []}), 400
    try:
        found = (
            services().directory.suggest_users(query)
            if kind == "user"
            else services().directory.suggest_groups(query)
        )
    except DirectoryError as error:
        # The picker still accepts typed names; it just cannot suggest any now.
        return jsonify({"error": str(error), "suggestions": []}), 503
    return jsonify({"suggestions": found})


def unknown_grants(app: AppRecord) -> dict[str, Any]:
    """Who the app's grants name that Keycloak does not know, with the warning to show.

    Grants may name them (Dash Enterprise's case: a user of an external identity provider
    is in Keycloak only after their first sign-in), but the owner should see it: a typo
    grants nobody, and a name registered later would get the access.
    """
    try:
        users, groups = services().directory.unknown_principals(
            app.viewer_users | app.co_owner_users, app.viewer_groups | app.co_owner_groups
        )
    except DirectoryError as error:
        return {"users": [], "groups": [], "message": f"Names not checked: {error}"}
    parts = []
    if users:
        parts.append(
            f"{', '.join(sorted(users))}: not yet signed in. Users of an external identity "
            "provider appear in Keycloak at their first sign-in; otherwise, check the spelling."
        )
    if groups:
        parts.append(f"{', '.join(sorted(groups))}: no such group in Keycloak (yet).")
    message = "Keycloak does not know " + " ".join(parts) if parts else ""
    return {"users": sorted(users), "groups": sorted(groups), "message": message}


@bp.get("/apps/<slug>/unknown-grants")
@requires(Action.VIEW_APP_MANAGER)
def unknown_grants_json(slug: str) -> Any:
    """The same warning after the page saved new grants (JSON)."""
    return jsonify(unknown_grants(_managed_app(slug)))


@bp.get("/apps/")
def apps_index() -> Any:
    """/manager/apps/ on its own is the App Manager's list."""
    return redirect(url_for("manager.index"))
