"""The Admin section (/admin): seats, users, activity, app ownership, policy, audit log.

Each page requires its own permission from ``roles.PERMISSIONS`` (all held by ``admin``).
Facts about people (roles, groups, seats, sign-ins) come from Keycloak through the
directory; when Keycloak's admin API is unreachable the pages say so and show what the
portal knows on its own instead of failing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from flask import Blueprint, flash, render_template, request, url_for

from portal import audit, registry
from portal.auth import revocation
from portal.auth.decorators import requires
from portal.auth.sessions import end_sessions
from portal.identity import current_user
from portal.keycloak_admin import DirectoryError
from portal.pages import redirect_back
from portal.pages.charts import daily_chart
from portal.registry import RegistryError
from portal.services import services
from roles import SEAT, AccessLevel, Action, holds_seat, normalize_username

__all__ = ["bp", "seat_summary"]

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__)

T = TypeVar("T")
ACTIVITY_DAYS = 30


def _ask(question: Callable[[], T]) -> tuple[T | None, str | None]:
    """Ask the directory; on failure, the answer is ``None`` and a notice to show."""
    try:
        return question(), None
    except DirectoryError as error:
        log.warning("Keycloak admin API: %s", error)
        return None, str(error)


def seat_summary(licensed: set[str] | None, seats: int) -> dict[str, Any]:
    """Seats in use against the licence: ``over`` when more users hold a seat."""
    used = len(licensed) if licensed is not None else None
    return {
        "seats": seats,
        "used": used,
        "over": used is not None and used > seats,
        "percent": min(100, round(100 * used / seats)) if used is not None and seats else 0,
        "holders": sorted(licensed or ()),
    }


def _render(template: str, page: str, **context: Any) -> str:
    return render_template(template, section="admin", page=page, **context)


@bp.get("/")
@requires(Action.VIEW_LICENSE_SEATS)
def overview() -> str:
    """Seats, a health line for Keycloak, counts, and links into the Keycloak console."""

    settings = services().settings
    licensed, notice = _ask(lambda: services().directory.licensed_usernames())
    apps = registry.list_apps()
    ownerless = registry.ownerless_apps(licensed) if licensed is not None else None
    d = services().directory
    console = {
        "Users": d.console_home("users"),
        "Groups": d.console_home("groups"),
        "Clients and roles": d.console_home("clients"),
        "Sign-in events": d.console_home("events"),
        "Realm settings": d.console_home("realm-settings"),
    }
    return _render(
        "admin.html",
        "overview",
        seats=seat_summary(licensed, settings.license_seats),
        notice=notice,
        apps=apps,
        ownerless=ownerless,
        console=console,
        settings=settings.public(),
        isolation=services().hosting.isolation,
        memory_enforcement=services().hosting.memory_enforcement,
    )


@bp.get("/users")
@requires(Action.VIEW_USERS_AND_ACTIVITY)
def users() -> str:
    """Every user with effective roles, groups and last sign-in."""
    people, notice = _ask(lambda: services().directory.users_with_roles_and_groups())
    events, _ = _ask(lambda: services().directory.login_events(ACTIVITY_DAYS))
    last: dict[str, datetime] = {}
    for event in events or ():
        if event.username and event.username not in last:  # newest first
            last[event.username] = event.time
    query = request.args.get("q", "").strip().lower()
    if people and query:
        people = [
            u
            for u in people
            if query in " ".join([u.username, u.email or "", u.display_name, *u.groups]).lower()
        ]
    return _render(
        "admin_users.html",
        "users",
        people=people,
        notice=notice,
        last=last,
        query=query,
        console_url=lambda user_id: services().directory.console_url(user_id=user_id),
    )


@bp.post("/users/<username>/sign-out")
@requires(Action.SIGN_OUT_USERS)
def sign_out(username: str) -> Any:
    """End every portal session of a user at once, and refuse their earlier sign-ins.

    Every token from a sign-in before now is refused from here on (bearer tokens, and
    a browser's Keycloak session at the next sign-in), so the user must enter their
    password again. The portal's service account may not change users, so the Keycloak
    sessions themselves end when they idle out.
    """
    name = normalize_username(username)
    try:
        sub = services().directory.user_id(name)
    except DirectoryError as error:
        return redirect_back(url_for("admin.users"), f"Could not sign {name} out: {error}", "error")
    revocation.revoke(sub)
    ended = end_sessions(sub=sub)
    audit.record(
        current_user().username, "user.sign_out", f"user:{name}", detail={"portal_sessions": ended}
    )
    return redirect_back(url_for("admin.users"), f"{name} is signed out everywhere.")


def _window(days: int) -> list[date]:
    today = datetime.now(UTC).date()
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


@bp.get("/activity")
@requires(Action.VIEW_USERS_AND_ACTIVITY)
def activity() -> str:
    """Sign-ins (Keycloak's LOGIN events) and app views per day, and the busiest apps."""
    days = _window(ACTIVITY_DAYS)
    events, notice = _ask(lambda: services().directory.login_events(ACTIVITY_DAYS))
    logins = Counter(event.time.date() for event in events or ())
    views: Counter[date] = Counter()
    per_app = []
    for app in registry.list_apps():
        rows = registry.views_per_day(app.slug, days=ACTIVITY_DAYS)
        for day, count, _ in rows:
            views[day] += count
        per_app.append((app, sum(r[1] for r in rows), max((r[2] for r in rows), default=0)))
    per_app.sort(key=lambda item: (-item[1], item[0].title))
    series = {"App views": [views[d] for d in days]}
    if events is not None:
        series["Sign-ins"] = [logins[d] for d in days]
    chart = daily_chart(
        days, series, title=f"Activity per day, last {ACTIVITY_DAYS} days", bars=("App views",)
    )
    return _render(
        "admin_activity.html",
        "activity",
        chart=chart,
        notice=notice,
        per_app=per_app,
        recent=(events or [])[:50],
        total_logins=sum(logins.values()),
        total_views=sum(views.values()),
        active_users=len({e.username for e in events or () if e.username}),
    )


@bp.get("/apps")
@requires(Action.TRANSFER_APPS)
def apps() -> str:
    """Every app with its owner; ownerless ones flagged, with single and bulk transfer."""
    people, notice = _ask(lambda: services().directory.users_with_roles_and_groups())
    apps = registry.list_apps()
    known = {u.username for u in people or ()}
    licensed = sorted(u.username for u in people or () if holds_seat(u))
    ownerless: dict[str, str] = {}
    if people is not None:
        for app in registry.ownerless_apps(licensed):
            if not app.owner:
                ownerless[app.slug] = "no owner"
            elif app.owner not in known:
                ownerless[app.slug] = f"{app.owner} no longer exists"
            else:
                ownerless[app.slug] = f"{app.owner} lost {SEAT}"
    return _render(
        "admin_apps.html",
        "apps",
        apps=apps,
        ownerless=ownerless,
        licensed=licensed,
        notice=notice,
    )


@bp.post("/apps/transfer")
@requires(Action.TRANSFER_APPS)
def transfer() -> Any:
    """Give one or many apps to a new owner, who must hold a seat."""
    back = url_for("admin.apps")
    # A row's own Transfer button names one app; the bulk button sends the ticked ones.
    only = request.form.get("only", "").strip()
    slugs = [only] if only else request.form.getlist("slug")
    new_owner = normalize_username(request.form.get("new_owner", ""))
    if not slugs or not new_owner:
        return redirect_back(back, "Pick at least one app and a new owner.", "error")
    licensed, notice = _ask(lambda: services().directory.is_licensed(new_owner))
    if licensed is None:
        return redirect_back(back, f"Cannot check {new_owner}'s seat: {notice}", "error")
    moved, failed = [], []
    for slug in slugs:
        try:
            registry.transfer_owner(
                slug, new_owner, actor=current_user(), holds_seat=lambda _name: licensed
            )
            moved.append(slug)
        except RegistryError as error:
            failed.append(f"{slug}: {error.message}")
    if moved:
        flash(f"{new_owner} now owns {', '.join(moved)}.", "ok")
    if failed:
        return redirect_back(back, "Not transferred. " + " ".join(failed), "error")
    return redirect_back(back)


@bp.get("/policy")
@requires(Action.CONFIGURE_VIEWER_ACCESS_POLICY)
def policy() -> str:
    """The global viewer-access policy: which access levels apps may use."""
    current = registry.get_policy()
    counts = Counter(app.access for app in registry.list_apps())
    return _render("admin_policy.html", "policy", policy=current, counts=counts)


@bp.post("/policy")
@requires(Action.CONFIGURE_VIEWER_ACCESS_POLICY)
def save_policy() -> Any:
    """Save the policy; apps using a level no longer allowed become stricter."""
    chosen = set(request.form.getlist("allowed")) | {AccessLevel.RESTRICTED.value}
    try:
        registry.set_policy(allowed_access_levels=sorted(chosen), actor=current_user())
    except RegistryError as error:
        return redirect_back(url_for("admin.policy"), error.message, "error")
    return redirect_back(url_for("admin.policy"), "Viewer access policy saved.")


@bp.get("/audit")
@requires(Action.VIEW_AUDIT_LOG)
def audit_log() -> str:
    """The newest audit events, optionally for one target (``?target=app:sales``)."""
    target = request.args.get("target", "").strip() or None
    events = audit.recent(limit=200, target=target)
    return _render("admin_audit.html", "audit", events=events, target=target or "")
