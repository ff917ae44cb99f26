"""Changing the app registry: settings, ownership, new apps.

Every write runs in one :func:`portal.unit_of_work.unit_of_work`: it locks the app's row (so
concurrent writes to one app run one after the other, on every database), checks
everything (``roles.can_change`` per field, every value, the global policy), changes
the rows, bumps the registry version counter and writes its audit event, all in the
same commit. A refused or failed write changes nothing, and every worker's cache sees
a committed write on its next read.

Refusals are the domain errors of :mod:`portal.registry.errors`. No network calls here:
facts that live in Keycloak (does the new owner hold a seat?) are the caller's to answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal import audit
from portal.extensions import db
from portal.identity import User
from portal.unit_of_work import lock_rows, unit_of_work
from roles import SEAT, AccessLevel, Action, can, can_change

from .errors import Conflict, Forbidden, Malformed, NotFound
from .models import App, AppGrant, GrantRelation, PrincipalType, utcnow
from .policy import current_policy
from .records import AppRecord
from .store import app_target, build_records, bump_version, get_app
from .validation import (
    EDITABLE_FIELDS,
    check_access,
    check_description,
    check_idle_timeout,
    check_memory_limit,
    check_principals,
    check_slug,
    check_tags,
    check_thumbnail,
    check_title,
    check_username,
    check_visible,
    check_workers,
)

__all__ = ["initialize_app", "insert_app", "transfer_owner", "update_app"]

_PRINCIPAL_FIELDS = {"viewers": GrantRelation.VIEWER, "co_owners": GrantRelation.CO_OWNER}
_CHECKERS = {
    "title": check_title,
    "description": check_description,
    "tags": check_tags,
    "thumbnail": check_thumbnail,
    "visible_in_portal": check_visible,
    "workers": check_workers,
    "idle_timeout_s": check_idle_timeout,
    "memory_limit_mb": check_memory_limit,
}


def _record_of(app: App) -> AppRecord:
    return build_records([app], app.grants)[0]


def _state(record: AppRecord, fields: Iterable[str]) -> dict[str, Any]:
    full = record.to_json() | {"thumbnail": record.thumbnail}
    return {field: full[field] for field in fields}


def _audited_change(
    app: App, actor: User, action: str, *, before: AppRecord, fields: Iterable[str]
) -> AppRecord:
    """Finish a change to ``app`` inside its unit of work: stamp it, announce it to every
    cache, and audit ``fields`` as they were and are. Returns the new record."""
    app.updated_at = utcnow()
    bump_version()
    db.session.flush()
    after = _record_of(app)
    audit.record(
        actor.username,
        action,
        app_target(app.slug),
        before=_state(before, fields),
        after=_state(after, fields),
    )
    return after


def _locked_app(slug: str) -> App:
    """The app's row, locked for this unit (unit_of_work), with its grants as committed."""
    query = select(App).where(App.slug == slug).options(selectinload(App.grants))
    app = db.session.execute(lock_rows(query)).scalar_one_or_none()
    if app is None:
        raise NotFound(f"No app {slug!r}.")
    return app


def _set_grants(app: App, relation: str, kind: str, names: frozenset[str]) -> None:
    """Make the app's ``relation`` grants of ``kind`` exactly ``names``."""
    keep = [g for g in app.grants if (g.relation, g.principal_type) != (relation, kind)]
    current = {
        g.principal: g for g in app.grants if (g.relation, g.principal_type) == (relation, kind)
    }
    app.grants = keep + [current[n] for n in names if n in current]
    for name in sorted(names - current.keys()):
        app.grants.append(AppGrant(relation=relation, principal_type=kind, principal=name))


def _checked_changes(changes: Mapping[str, Any], allowed: frozenset[AccessLevel]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "access":
            checked[field] = check_access(value, allowed=allowed)
        elif field in _PRINCIPAL_FIELDS:
            checked[field] = check_principals(field, value)
        else:
            checked[field] = _CHECKERS[field](value)
    return checked


def _proposed(record: AppRecord, checked: Mapping[str, Any]) -> AppRecord:
    values: dict[str, Any] = {}
    for field, value in checked.items():
        if field in _PRINCIPAL_FIELDS:
            prefix = "viewer" if field == "viewers" else "co_owner"
            for key, names in value.items():
                values[f"{prefix}_{key}"] = names
        else:
            values[field] = value
    return replace(record, **values)


def update_app(slug: str, changes: Mapping[str, Any], *, actor: User) -> AppRecord:
    """Change an app's settings (the PATCH of /api/apps/<slug>); all fields or none.

    In this order: NotFound (no such app), Forbidden (``actor`` does not manage it),
    Malformed (``changes`` is not an object or names unknown fields), Forbidden (a field
    ``actor`` may not change), Invalid (a bad value; the message names the field).
    """
    with unit_of_work():
        app = _locked_app(slug)
        current = _record_of(app)
        if not can(actor, Action.VIEW_APP_INFO, current):
            raise Forbidden(f"Only the owner, co-owners and admins manage {slug!r}.")
        if not isinstance(changes, Mapping):
            raise Malformed("The body must be a JSON object.")
        unknown = sorted(set(changes) - EDITABLE_FIELDS)
        if unknown:
            raise Malformed(f"Unknown fields: {', '.join(unknown)}.", unknown=unknown)
        for field in changes:
            if not can_change(actor, field, current):
                raise Forbidden(f"You may not change {field} of {slug!r}.")
        checked = _checked_changes(changes, current_policy().allowed_access_levels)
        proposed = _proposed(current, checked)
        changed = [f for f in checked if _state(current, [f]) != _state(proposed, [f])]
        if not changed:
            return current
        for field in changed:
            if field in _PRINCIPAL_FIELDS:
                for key, names in checked[field].items():
                    kind = PrincipalType.USER if key == "users" else PrincipalType.GROUP
                    _set_grants(app, _PRINCIPAL_FIELDS[field], kind, names)
            elif field == "access":
                app.access = checked[field].value
            elif field == "tags":
                app.tags = list(checked[field])
            else:
                setattr(app, field, checked[field])
        return _audited_change(app, actor, "app.update", before=current, fields=changed)


def transfer_owner(
    slug: str, new_owner: str, *, actor: User, holds_seat: Callable[[str], bool]
) -> AppRecord:
    """Give an app a new owner (admin only); Conflict when the new owner holds no seat.

    In this order: Forbidden, Invalid (the name), NotFound, then ``holds_seat(name)``, the
    caller's question to Keycloak (asked only for an admin's transfer of an existing app,
    and outside the row lock), then Conflict. The new owner stops being a co-owner by
    name; the old owner keeps nothing.
    """
    if not can(actor, Action.TRANSFER_APPS):
        raise Forbidden("Only admins transfer apps.")
    name = check_username(new_owner, field="owner")
    if get_app(slug) is None:
        raise NotFound(f"No app {slug!r}.")
    licensed = holds_seat(name)
    with unit_of_work():
        app = _locked_app(slug)
        if not licensed:
            raise Conflict(
                f"{name} has no {SEAT} seat; only licensed users can own apps.",
                reason="not_licensed",
            )
        before = _record_of(app)
        if before.owner == name:
            return before
        app.owner = name
        if name in before.co_owner_users:
            _set_grants(
                app, GrantRelation.CO_OWNER, PrincipalType.USER, before.co_owner_users - {name}
            )
        fields = ["owner", "co_owners"]
        return _audited_change(app, actor, "app.transfer_owner", before=before, fields=fields)


def insert_app(
    slug: str,
    *,
    actor: str,
    action: str,
    owner: str | None,
    title: str,
    description: str = "",
    tags: Iterable[str] = (),
    access: AccessLevel | str = AccessLevel.RESTRICTED,
    visible_in_portal: bool = True,
    viewer_groups: Iterable[str] = (),
    viewer_users: Iterable[str] = (),
) -> AppRecord:
    """Register a new app with checked values and audit it; joins the caller's unit of work.

    No permission check: callers (seeding, :func:`initialize_app`) decide who may.
    """
    slug = check_slug(slug)
    with unit_of_work():
        if db.session.execute(select(App.id).where(App.slug == slug)).first() is not None:
            raise Conflict(f"An app {slug!r} is already registered.")
        now = utcnow()
        app = App(
            slug=slug,
            title=check_title(title),
            description=check_description(description),
            tags=list(check_tags(list(tags))),
            owner=check_username(owner, field="owner") if owner else None,
            access=check_access(access, allowed=current_policy().allowed_access_levels).value,
            visible_in_portal=check_visible(visible_in_portal),
            created_at=now,
            updated_at=now,
        )
        viewers = check_principals("viewers", {"users": viewer_users, "groups": viewer_groups})
        for key, kind in (("users", PrincipalType.USER), ("groups", PrincipalType.GROUP)):
            for name in sorted(viewers[key]):
                app.grants.append(
                    AppGrant(relation=GrantRelation.VIEWER, principal_type=kind, principal=name)
                )
        db.session.add(app)
        bump_version()
        db.session.flush()
        record = _record_of(app)
        audit.record(actor, action, app_target(slug), after=_state(record, record.to_json()))
    return record


def initialize_app(
    slug: str,
    *,
    owner: User,
    title: str | None = None,
    description: str = "",
    tags: Iterable[str] = (),
    access: AccessLevel | str = AccessLevel.RESTRICTED,
    visible_in_portal: bool = False,
) -> AppRecord:
    """A licensed user registers a new app (to deploy bundles to) and becomes its owner.

    Forbidden unless ``owner`` may initialize apps; Conflict when the slug is taken;
    Invalid for bad values. As in Dash Enterprise, a new app is Restricted and not
    visible in the portal until its owner says otherwise.
    """
    if not can(owner, Action.INITIALIZE_APP):
        raise Forbidden("Only licensed users create apps.")
    return insert_app(
        slug,
        actor=owner.username,
        action="app.initialize",
        owner=owner.username,
        title=title if title is not None else slug.replace("-", " ").replace("_", " ").title(),
        description=description,
        tags=tags,
        access=access,
        visible_in_portal=visible_in_portal,
    )
