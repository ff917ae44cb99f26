"""The role and permission model of the platform, in one place.

Roles are the client roles of the Keycloak client ``dash``, used exactly as Dash
Enterprise 5 uses them: ``viewer`` is every user's default role, ``licensed_user``
is a seat that may own apps, ``admin`` runs the Admin section.

The permission matrix below is Dash Enterprise's permission tables, kept as data
and limited to the actions this platform has. Every permission check in the
portal, the guard, the API and the apps goes through :func:`can`; viewing an app
goes through :func:`can_view`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Protocol

__all__ = [
    "ALSO_REQUIRES",
    "FIELD_ACTIONS",
    "PERMISSIONS",
    "SEAT",
    "AccessLevel",
    "Action",
    "AppAccess",
    "Principal",
    "Relation",
    "Role",
    "can",
    "can_change",
    "can_view",
    "group_covers",
    "holds_seat",
    "normalize_group",
    "normalize_username",
    "relations",
]


class Role(enum.StrEnum):
    """Client roles of the Keycloak client ``dash``."""

    VIEWER = "viewer"
    LICENSED_USER = "licensed_user"
    ADMIN = "admin"


class Relation(enum.StrEnum):
    """What a user is to one app. Ownership counts only while the user holds a seat."""

    OWNER = "owner"
    CO_OWNER = "co_owner"


class AccessLevel(enum.StrEnum):
    """Who may open an app (Dash Enterprise's viewer access settings)."""

    UNAUTHENTICATED = "unauthenticated"
    AUTHENTICATED = "authenticated"
    RESTRICTED = "restricted"


class Action(enum.StrEnum):
    """What someone may want to do. Platform-wide actions first, then per-app ones."""

    VIEW_PORTAL = "view_portal"
    VIEW_APP_MANAGER = "view_app_manager"
    INITIALIZE_APP = "initialize_app"
    OWN_APP = "own_app"
    VIEW_LICENSE_SEATS = "view_license_seats"
    VIEW_USERS_AND_ACTIVITY = "view_users_and_activity"
    TRANSFER_APPS = "transfer_apps"
    CONFIGURE_VIEWER_ACCESS_POLICY = "configure_viewer_access_policy"
    SIGN_OUT_USERS = "sign_out_users"
    VIEW_AUDIT_LOG = "view_audit_log"
    VIEW_DATA_AS_OTHERS = "view_data_as_others"
    # Per app: these need the app, because ownership is a relation to one app.
    VIEW_APP_INFO = "view_app_info"
    CONFIGURE_VIEWER_ACCESS = "configure_viewer_access"
    USE_VIEWER_ANALYTICS = "use_viewer_analytics"
    EDIT_PORTAL_SETTINGS = "edit_portal_settings"
    ADD_CO_OWNERS = "add_co_owners"
    DEPLOY_APP = "deploy_app"
    OPERATE_APP = "operate_app"
    SET_MEMORY_LIMIT = "set_memory_limit"
    OPEN_RESTRICTED_APP = "open_restricted_app"


#: The seat: a user owns and co-owns apps only while holding this role.
SEAT = Role.LICENSED_USER
_OWNERS = frozenset({Relation.OWNER, Relation.CO_OWNER, Role.ADMIN})

#: Who may do what: each action maps to the roles and app relations that grant it.
#: An empty cell in Dash Enterprise's tables is simply absent here (deny by default).
PERMISSIONS: dict[Action, frozenset[Role | Relation]] = {
    Action.VIEW_PORTAL: frozenset({Role.VIEWER, Role.LICENSED_USER, Role.ADMIN}),
    Action.VIEW_APP_MANAGER: frozenset({Role.LICENSED_USER, Role.ADMIN}),
    Action.INITIALIZE_APP: frozenset({Role.LICENSED_USER}),
    Action.OWN_APP: frozenset({SEAT}),
    Action.VIEW_LICENSE_SEATS: frozenset({Role.ADMIN}),
    Action.VIEW_USERS_AND_ACTIVITY: frozenset({Role.ADMIN}),
    Action.TRANSFER_APPS: frozenset({Role.ADMIN}),
    Action.CONFIGURE_VIEWER_ACCESS_POLICY: frozenset({Role.ADMIN}),
    Action.SIGN_OUT_USERS: frozenset({Role.ADMIN}),
    Action.VIEW_AUDIT_LOG: frozenset({Role.ADMIN}),
    Action.VIEW_DATA_AS_OTHERS: frozenset({Role.ADMIN}),
    Action.VIEW_APP_INFO: _OWNERS,
    Action.CONFIGURE_VIEWER_ACCESS: _OWNERS,
    Action.USE_VIEWER_ANALYTICS: _OWNERS,
    Action.EDIT_PORTAL_SETTINGS: _OWNERS,
    Action.ADD_CO_OWNERS: _OWNERS,
    Action.DEPLOY_APP: _OWNERS,
    # Seed 002: start and stop, logs, environment variables, workers, roll back, delete.
    Action.OPERATE_APP: _OWNERS,
    Action.SET_MEMORY_LIMIT: frozenset({Role.ADMIN}),
    # Besides these, a Restricted app opens to the viewers it lists (see can_view).
    Action.OPEN_RESTRICTED_APP: _OWNERS,
}

#: Roles an action needs besides what :data:`PERMISSIONS` grants. Seed 002: an admin
#: deploys an app only when also a licensed_user (owners and co-owners hold a seat anyway).
ALSO_REQUIRES: dict[Action, frozenset[Role]] = {
    Action.DEPLOY_APP: frozenset({Role.LICENSED_USER}),
}

#: Which per-app action changing each setting of an app needs (the fields of
#: ``PATCH /api/apps/<slug>``; the registry accepts exactly these).
FIELD_ACTIONS: dict[str, Action] = {
    "access": Action.CONFIGURE_VIEWER_ACCESS,
    "viewers": Action.CONFIGURE_VIEWER_ACCESS,
    "co_owners": Action.ADD_CO_OWNERS,
    "visible_in_portal": Action.EDIT_PORTAL_SETTINGS,
    "title": Action.EDIT_PORTAL_SETTINGS,
    "description": Action.EDIT_PORTAL_SETTINGS,
    "tags": Action.EDIT_PORTAL_SETTINGS,
    "thumbnail": Action.EDIT_PORTAL_SETTINGS,
    "workers": Action.OPERATE_APP,
    "idle_timeout_s": Action.OPERATE_APP,
    "memory_limit_mb": Action.SET_MEMORY_LIMIT,
}


class Principal(Protocol):
    """A verified identity: what :func:`can` needs to know about a user."""

    @property
    def username(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def groups(self) -> frozenset[str]: ...


class AppAccess(Protocol):
    """What :func:`can` needs to know about an app."""

    @property
    def access(self) -> AccessLevel: ...

    @property
    def owner(self) -> str | None: ...

    @property
    def co_owner_users(self) -> frozenset[str]: ...

    @property
    def co_owner_groups(self) -> frozenset[str]: ...

    @property
    def viewer_users(self) -> frozenset[str]: ...

    @property
    def viewer_groups(self) -> frozenset[str]: ...


def normalize_username(name: str) -> str:
    """Keycloak stores usernames lower-case; people type "Bob"."""
    return name.strip().lower()


def normalize_group(path: str) -> str:
    """A group as the full path of the ``groups`` claim: ``/sales/east``."""
    parts = [p for p in path.strip().split("/") if p]
    return "/" + "/".join(parts)


def group_covers(grant: str, group: str) -> bool:
    """A grant to a group covers the group and all of its subgroups."""
    grant, group = normalize_group(grant), normalize_group(group)
    return grant != "/" and (group == grant or group.startswith(grant + "/"))


def _any_group_covered(grants: Iterable[str], groups: Iterable[str]) -> bool:
    groups = tuple(groups)
    return any(group_covers(grant, group) for grant in grants for group in groups)


def holds_seat(user: Principal | None) -> bool:
    """Whether ``user`` holds a seat: ownership of an app counts only while they do."""
    return can(user, Action.OWN_APP)


def relations(user: Principal, app: AppAccess) -> frozenset[Relation]:
    """The user's relations to the app: none without a seat (:func:`holds_seat`)."""
    if not holds_seat(user):
        return frozenset()
    name = normalize_username(user.username)
    found: set[Relation] = set()
    if app.owner and normalize_username(app.owner) == name:
        found.add(Relation.OWNER)
    if name in {normalize_username(u) for u in app.co_owner_users} or _any_group_covered(
        app.co_owner_groups, user.groups
    ):
        found.add(Relation.CO_OWNER)
    return frozenset(found)


def can(user: Principal | None, action: Action, app: AppAccess | None = None) -> bool:
    """Whether ``user`` may do ``action`` (on ``app`` for per-app actions). Deny by default.

    Without ``app`` only the user's roles count: for a per-app action, the answer is
    whether the roles alone grant it, that is, on every app (an admin's App Info).
    """
    if user is None:
        return False
    allowed = PERMISSIONS.get(action, frozenset())
    held: set[Role | Relation] = {Role(r) for r in user.roles if r in Role._value2member_map_}
    if not ALSO_REQUIRES.get(action, frozenset()) <= held:
        return False
    if app is not None:
        held |= relations(user, app)
    return not allowed.isdisjoint(held)


def can_change(user: Principal | None, field: str, app: AppAccess) -> bool:
    """Whether ``user`` may change the setting ``field`` of ``app`` (:data:`FIELD_ACTIONS`)."""
    action = FIELD_ACTIONS.get(field)
    return action is not None and can(user, action, app)


def can_view(user: Principal | None, app: AppAccess) -> bool:
    """Whether ``user`` (``None`` when anonymous) may open ``app``.

    Unauthenticated: anyone. Authenticated: any signed-in user. Restricted: whoever
    :data:`PERMISSIONS` lets open it (the owner, co-owners, admins), listed users, members
    of listed groups (or their subgroups).
    """
    if app.access == AccessLevel.UNAUTHENTICATED:
        return True
    if user is None:
        return False
    if app.access == AccessLevel.AUTHENTICATED:
        return True
    if app.access != AccessLevel.RESTRICTED:
        return False
    if can(user, Action.OPEN_RESTRICTED_APP, app):
        return True
    name = normalize_username(user.username)
    if name in {normalize_username(u) for u in app.viewer_users}:
        return True
    return _any_group_covered(app.viewer_groups, user.groups)
