"""The per-process cache of app records, and the index that makes the portal list cheap.

The guard asks for an app on every request under ``/apps/<slug>/`` (each Dash callback
too), so records live in memory. A cache is valid for one value of the registry's
version; the store reads that version and passes it in, and a different value empties
the cache. With ``Settings.host_cache`` the version is a change counter kept in memory
(:mod:`portal.change_counters`); otherwise, or while that counter cannot vouch for the
cache, a primary-key read of the database.
One cache per Flask app, so tests that build several apps on several databases never
share records.

The :class:`Listing` index answers "which apps could this user open?" by set lookups
instead of asking ``roles.can_view`` about all apps: a grant to a group covers a user
exactly when the grant's path is one of the ancestors of (or equal to) one of the user's
groups. The index only narrows the candidates; ``roles.can_view`` still decides.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from portal.change_counters import ChangeCounter
from roles import (
    AccessLevel,
    Action,
    Principal,
    can,
    holds_seat,
    normalize_group,
    normalize_username,
)

from .records import AppRecord

__all__ = ["Listing", "RegistryCache", "group_ancestors"]


def group_ancestors(groups: Iterable[str]) -> set[str]:
    """Every path that covers one of ``groups``: ``/a/b`` gives ``/a`` and ``/a/b``."""
    found: set[str] = set()
    for group in groups:
        parts = [p for p in normalize_group(group).split("/") if p]
        for depth in range(1, len(parts) + 1):
            found.add("/" + "/".join(parts[:depth]))
    return found


def _index(pairs: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for key, slug in pairs:
        found[key].add(slug)
    return {key: frozenset(slugs) for key, slugs in found.items()}


@dataclass(frozen=True, slots=True)
class Listing:
    """All app records of one registry version, in portal order, with lookup indexes."""

    records: tuple[AppRecord, ...]
    by_slug: dict[str, AppRecord]
    unrestricted: frozenset[str]  # open to anyone (unauthenticated)
    authenticated: frozenset[str]  # open to anyone signed in
    by_owner: dict[str, frozenset[str]]
    by_co_owner_user: dict[str, frozenset[str]]
    by_co_owner_group: dict[str, frozenset[str]]
    by_viewer_user: dict[str, frozenset[str]]
    by_viewer_group: dict[str, frozenset[str]]

    @classmethod
    def build(cls, records: Iterable[AppRecord]) -> Listing:
        ordered = tuple(sorted(records, key=lambda r: (r.title.casefold(), r.slug)))
        return cls(
            records=ordered,
            by_slug={r.slug: r for r in ordered},
            unrestricted=frozenset(
                r.slug for r in ordered if r.access == AccessLevel.UNAUTHENTICATED
            ),
            authenticated=frozenset(
                r.slug for r in ordered if r.access == AccessLevel.AUTHENTICATED
            ),
            by_owner=_index((r.owner, r.slug) for r in ordered if r.owner),
            by_co_owner_user=_index((u, r.slug) for r in ordered for u in r.co_owner_users),
            by_co_owner_group=_index((g, r.slug) for r in ordered for g in r.co_owner_groups),
            by_viewer_user=_index((u, r.slug) for r in ordered for u in r.viewer_users),
            by_viewer_group=_index((g, r.slug) for r in ordered for g in r.viewer_groups),
        )

    def _related(self, user: Principal, *, viewers: bool) -> set[str]:
        """Slugs where the user is named: as owner, co-owner and, with ``viewers``, viewer."""
        name = normalize_username(user.username)
        covering = group_ancestors(user.groups)
        slugs: set[str] = set()
        if holds_seat(user):  # ownership counts only with a seat
            slugs |= self.by_owner.get(name, frozenset())
            slugs |= self.by_co_owner_user.get(name, frozenset())
            for path in covering:
                slugs |= self.by_co_owner_group.get(path, frozenset())
        if viewers:
            slugs |= self.by_viewer_user.get(name, frozenset())
            for path in covering:
                slugs |= self.by_viewer_group.get(path, frozenset())
        return slugs

    def viewable_candidates(self, user: Principal | None) -> list[AppRecord]:
        """A superset of the apps ``user`` may open, in portal order."""
        if user is None:
            slugs: set[str] = set(self.unrestricted)
        elif can(user, Action.OPEN_RESTRICTED_APP):  # the roles alone open every app
            return list(self.records)
        else:
            slugs = set(self.unrestricted) | self.authenticated | self._related(user, viewers=True)
        return [r for r in self.records if r.slug in slugs]

    def managed_candidates(self, user: Principal) -> list[AppRecord]:
        """A superset of the apps ``user`` owns or co-owns, in portal order."""
        slugs = self._related(user, viewers=False)
        return [r for r in self.records if r.slug in slugs]


class RegistryCache:
    """Records of one Flask app's registry, valid for one registry version.

    With a ``generation`` counter, its value is the version; without (or while it answers
    None), the store reads the version from the database. Versions are opaque: compared
    for equality only.
    """

    def __init__(self, generation: ChangeCounter | None = None) -> None:
        self.generation = generation
        self._lock = threading.Lock()
        self._version: Hashable | None = None
        self._by_slug: dict[str, AppRecord | None] = {}
        self._listing: Listing | None = None

    def _sync(self, version: Hashable) -> None:
        # Caller holds the lock. A new version empties everything.
        if version != self._version:
            self._version = version
            self._by_slug = {}
            self._listing = None

    def get(
        self, slug: str, version: Hashable, load: Callable[[str], AppRecord | None]
    ) -> AppRecord | None:
        """The record of ``slug`` at ``version``, loading it (or its absence) once."""
        with self._lock:
            self._sync(version)
            if slug in self._by_slug:
                return self._by_slug[slug]
            if self._listing is not None:
                return self._listing.by_slug.get(slug)
        record = load(slug)  # outside the lock: a slow query must not block other slugs
        with self._lock:
            if self._version == version:
                self._by_slug[slug] = record
        return record

    def listing(self, version: Hashable, load_all: Callable[[], Iterable[AppRecord]]) -> Listing:
        """Every record at ``version``, indexed."""
        with self._lock:
            self._sync(version)
            if self._listing is not None:
                return self._listing
        listing = Listing.build(load_all())
        with self._lock:
            if self._version == version:
                self._listing = listing
        return listing

    def clear(self) -> None:
        with self._lock:
            self._version = None
            self._by_slug = {}
            self._listing = None
