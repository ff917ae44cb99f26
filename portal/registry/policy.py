"""The global viewer-access policy (Dash Enterprise's "app viewer access policy").

Admins choose which access levels apps may use, e.g. "no Unauthenticated apps".
Restricted is always allowed, so every app can be locked down. Narrowing the policy
moves each app that uses a level no longer allowed to the nearest stricter allowed
level, in the same transaction, so the policy is never just a wish.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from portal import audit
from portal.extensions import db
from portal.identity import User
from portal.unit_of_work import lock_rows, unit_of_work
from roles import AccessLevel, Action, can

from .errors import Forbidden, Invalid
from .models import App, PortalPolicy, utcnow
from .records import PolicyRecord
from .store import app_target, bump_version
from .validation import check_access

__all__ = ["POLICY_TARGET", "current_policy", "get_policy", "set_policy", "stricter_allowed"]

POLICY_TARGET = "policy:portal"
#: From most open to strictest.
_STRICTNESS = (AccessLevel.UNAUTHENTICATED, AccessLevel.AUTHENTICATED, AccessLevel.RESTRICTED)
_DEFAULT = PolicyRecord(allowed_access_levels=frozenset(AccessLevel))


def current_policy() -> PolicyRecord:
    """The policy as stored now (all levels allowed when never set)."""
    row = db.session.get(PortalPolicy, 1)
    if row is None:
        return _DEFAULT
    levels = frozenset(
        AccessLevel(v) for v in row.allowed_access_levels if v in AccessLevel._value2member_map_
    )
    return PolicyRecord(
        allowed_access_levels=levels | {AccessLevel.RESTRICTED},
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def get_policy() -> PolicyRecord:
    """The global viewer-access policy."""
    return current_policy()


def stricter_allowed(level: AccessLevel, allowed: frozenset[AccessLevel]) -> AccessLevel:
    """``level`` if allowed, else the nearest stricter allowed level (Restricted at worst)."""
    for candidate in _STRICTNESS[_STRICTNESS.index(level) :]:
        if candidate in allowed:
            return candidate
    return AccessLevel.RESTRICTED


def set_policy(*, allowed_access_levels: Iterable[str], actor: User) -> PolicyRecord:
    """Set which access levels apps may use (admin only); apps now outside it move stricter.

    Forbidden unless ``actor`` may configure the policy; Invalid for an unknown level or
    a set without ``restricted``.
    """
    if not can(actor, Action.CONFIGURE_VIEWER_ACCESS_POLICY):
        raise Forbidden("Only admins configure the viewer access policy.")
    if isinstance(allowed_access_levels, str) or not isinstance(allowed_access_levels, Iterable):
        raise Invalid("allowed_access_levels: must be a list of access levels")
    allowed = frozenset(check_access(v) for v in allowed_access_levels)
    if AccessLevel.RESTRICTED not in allowed:
        raise Invalid(
            "allowed_access_levels: restricted must stay allowed", field="allowed_access_levels"
        )
    with unit_of_work():
        # Locked (and read afresh) first, so "before" is the policy this write replaces.
        row = db.session.get(PortalPolicy, 1, with_for_update=True, populate_existing=True)
        before = current_policy()
        if row is None:
            row = PortalPolicy(id=1)
            db.session.add(row)
        row.allowed_access_levels = [level.value for level in _STRICTNESS if level in allowed]
        row.updated_at = utcnow()
        row.updated_by = actor.username
        outside = (
            db.session.execute(
                lock_rows(select(App).where(App.access.not_in([level.value for level in allowed])))
            )
            .scalars()
            .all()
        )
        moved: dict[str, str] = {}
        for app in outside:
            new = stricter_allowed(AccessLevel(app.access), allowed)
            audit.record(
                actor.username,
                "app.access_narrowed_by_policy",
                app_target(app.slug),
                before={"access": app.access},
                after={"access": new.value},
            )
            moved[app.slug] = new.value
            app.access = new.value
            app.updated_at = row.updated_at
        bump_version()
        db.session.flush()
        after = current_policy()
        audit.record(
            actor.username,
            "policy.update",
            POLICY_TARGET,
            before=before.to_json(),
            after=after.to_json(),
            detail={"moved_apps": moved} if moved else None,
        )
    return after
