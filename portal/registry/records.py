"""Immutable views of registry rows: what the rest of the portal reads.

An :class:`AppRecord` is safe to cache and share between threads, and it satisfies
``roles.AppAccess``, so it goes straight into ``roles.can`` and ``roles.can_view``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roles import AccessLevel

__all__ = ["AppRecord", "PolicyRecord", "app_url"]


def app_url(slug: str) -> str:
    """Where an app is mounted."""
    return f"/apps/{slug}/"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppRecord:
    """One registered app with its owner, co-owners, viewers and portal settings.

    Usernames and group paths are normalised when written, so sets compare exactly.
    """

    slug: str
    title: str
    description: str
    tags: tuple[str, ...]
    thumbnail: str | None
    owner: str | None
    co_owner_users: frozenset[str]
    co_owner_groups: frozenset[str]
    viewer_users: frozenset[str]
    viewer_groups: frozenset[str]
    access: AccessLevel
    visible_in_portal: bool
    created_at: datetime
    updated_at: datetime
    workers: int = 2
    idle_timeout_s: int | None = None
    memory_limit_mb: int | None = None
    stopped: bool = False

    @property
    def url(self) -> str:
        return app_url(self.slug)

    def to_json(self) -> dict[str, Any]:
        """The contract's shape of an app's settings (lists sorted, so answers are stable)."""
        return {
            "slug": self.slug,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "owner": self.owner,
            "co_owners": {
                "users": sorted(self.co_owner_users),
                "groups": sorted(self.co_owner_groups),
            },
            "access": self.access.value,
            "viewers": {"users": sorted(self.viewer_users), "groups": sorted(self.viewer_groups)},
            "visible_in_portal": self.visible_in_portal,
            "workers": self.workers,
            "idle_timeout_s": self.idle_timeout_s,
            "memory_limit_mb": self.memory_limit_mb,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyRecord:
    """The global viewer-access policy: the access levels an app may be set to."""

    allowed_access_levels: frozenset[AccessLevel]
    updated_at: datetime | None = None
    updated_by: str | None = None

    def allows(self, level: AccessLevel) -> bool:
        return level in self.allowed_access_levels

    def to_json(self) -> dict[str, Any]:
        order = list(AccessLevel)
        return {
            "allowed_access_levels": [
                level.value for level in sorted(self.allowed_access_levels, key=order.index)
            ],
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by,
        }
