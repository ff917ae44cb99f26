"""Reading the app registry.

Reads come from the per-process cache (see :mod:`portal.registry.cache`), checked
against the registry version counter on every call, so a change made by any worker is
seen everywhere at once. Writes live in :mod:`portal.registry.writes`.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable
from typing import Any

from sqlalchemy import select, update

from portal.extensions import db
from portal.services import services
from roles import AccessLevel, Action, Principal, can, can_view, normalize_username

from .cache import RegistryCache
from .models import App, AppGrant, GrantRelation, PrincipalType, RegistryState
from .records import AppRecord
from .validation import is_hosted_thumbnail

__all__ = [
    "app_target",
    "apps_managed_by",
    "apps_visible_to",
    "build_records",
    "bump_version",
    "get_app",
    "list_apps",
    "ownerless_apps",
    "registry_version",
]

_APPS = App.__table__
_GRANTS = AppGrant.__table__
_VERSION_SQL = "SELECT version FROM registry_state WHERE id = 1"


def app_target(slug: str) -> str:
    """How audit events name an app."""
    return f"app:{slug}"


# --- reading ----------------------------------------------------------------------------


def registry_version() -> Hashable:
    """The registry's version (opaque: compare for equality), the guard's per-request cost.

    With ``Settings.host_cache`` it is the in-memory change counter that every registry
    commit advances (portal.change_counters); otherwise, or while that counter cannot
    vouch for the cache, one primary-key read of ``registry_state``.
    """
    return _version(services().registry)


def _version(cache: RegistryCache) -> Hashable:
    generation = cache.generation
    if generation is not None:
        value = generation.current()
        if value is not None:
            return value
    # Driver-level SQL: no statement compilation on the hot path (about half the time).
    # Tagged, so that it never equals a counter's value: they count different things.
    return ("database", db.session.connection().exec_driver_sql(_VERSION_SQL).scalar() or 0)


_EMPTY: frozenset[str] = frozenset()
_FIELD_OF_GRANT = {
    (GrantRelation.CO_OWNER, PrincipalType.USER): "co_owner_users",
    (GrantRelation.CO_OWNER, PrincipalType.GROUP): "co_owner_groups",
    (GrantRelation.VIEWER, PrincipalType.USER): "viewer_users",
    (GrantRelation.VIEWER, PrincipalType.GROUP): "viewer_groups",
}


def build_records(rows: Iterable[Any], grants: Iterable[Any]) -> list[AppRecord]:
    """Records from ``apps`` rows (or ORM objects) and their ``app_grants`` rows."""
    granted: dict[int, dict[str, set[str]]] = {}
    for grant in grants:
        field = _FIELD_OF_GRANT.get((grant.relation, grant.principal_type))
        if field is not None:  # a kind of grant this version does not know: ignore it
            granted.setdefault(grant.app_id, {}).setdefault(field, set()).add(grant.principal)
    records = []
    for row in rows:
        names = granted.get(row.id, {})
        records.append(
            AppRecord(
                slug=row.slug,
                title=row.title,
                description=row.description,
                tags=tuple(row.tags or ()),
                # Set before uploads were required: an outside URL is not shown.
                thumbnail=row.thumbnail if is_hosted_thumbnail(row.thumbnail) else None,
                owner=row.owner,
                co_owner_users=frozenset(names.get("co_owner_users", _EMPTY)),
                co_owner_groups=frozenset(names.get("co_owner_groups", _EMPTY)),
                viewer_users=frozenset(names.get("viewer_users", _EMPTY)),
                viewer_groups=frozenset(names.get("viewer_groups", _EMPTY)),
                access=AccessLevel(row.access),
                visible_in_portal=bool(row.visible_in_portal),
                created_at=row.created_at,
                updated_at=row.updated_at,
                workers=row.workers,
                idle_timeout_s=row.idle_timeout_s,
                memory_limit_mb=row.memory_limit_mb,
                stopped=bool(row.stopped),
            )
        )
    return records


_GRANT_COLUMNS = (
    _GRANTS.c.app_id,
    _GRANTS.c.relation,
    _GRANTS.c.principal_type,
    _GRANTS.c.principal,
)


def _load_one(slug: str) -> AppRecord | None:
    # Core queries, not ORM objects: the result is cached, the identity map is not needed.
    row = db.session.execute(select(_APPS).where(_APPS.c.slug == slug)).first()
    if row is None:
        return None
    grants = db.session.execute(select(*_GRANT_COLUMNS).where(_GRANTS.c.app_id == row.id)).all()
    return build_records([row], grants)[0]


def _load_all() -> list[AppRecord]:
    rows = db.session.execute(select(_APPS)).all()
    return build_records(rows, db.session.execute(select(*_GRANT_COLUMNS)).all())


def bump_version() -> None:
    """Count a registry change; call inside the write's transaction."""
    generation = services().registry.generation
    if generation is not None:
        generation.announce(db.session())
    done = db.session.execute(
        update(RegistryState).where(RegistryState.id == 1).values(version=RegistryState.version + 1)
    )
    if not done.rowcount:  # type: ignore[attr-defined]  # the migration seeds it; be safe
        db.session.add(RegistryState(id=1, version=1))


def get_app(slug: str) -> AppRecord | None:
    """The app at ``/apps/<slug>/``, or ``None``. The guard's hot path: cached per process."""
    cache = services().registry
    return cache.get(slug, _version(cache), _load_one)


def list_apps() -> list[AppRecord]:
    """Every registered app, in portal order (title, then slug)."""
    return list(services().registry.listing(registry_version(), _load_all).records)


def apps_visible_to(user: Principal | None) -> list[AppRecord]:
    """The portal's list: apps shown in the portal that ``user`` (``None``: anonymous) may open."""
    listing = services().registry.listing(registry_version(), _load_all)
    return [
        r for r in listing.viewable_candidates(user) if r.visible_in_portal and can_view(user, r)
    ]


def apps_managed_by(user: Principal) -> list[AppRecord]:
    """The App Manager's list: the apps whose App Info ``user`` may see (``roles.can``).

    That is every app when the user's roles alone allow it (admins), else the apps they
    own or co-own with a seat.
    """
    listing = services().registry.listing(registry_version(), _load_all)
    if can(user, Action.VIEW_APP_INFO):
        return list(listing.records)
    return [r for r in listing.managed_candidates(user) if can(user, Action.VIEW_APP_INFO, r)]


def ownerless_apps(licensed_usernames: Collection[str]) -> list[AppRecord]:
    """Apps whose owner holds no seat any more (Keycloak's licensed_user members are given)."""
    licensed = {normalize_username(name) for name in licensed_usernames}
    return [r for r in list_apps() if not r.owner or r.owner not in licensed]
