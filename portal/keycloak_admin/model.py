"""What the directory answers with, and the pure merge of Keycloak's role assignments.

Kept apart from the HTTP code so the effective-roles rule (direct, composite, inherited
from a group or a parent group) can be tested on JSON shaped like Keycloak's answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from roles import group_covers, normalize_username

__all__ = [
    "DirectoryError",
    "DirectoryRefused",
    "DirectoryUnavailable",
    "DirectoryUser",
    "LoginEvent",
    "RoleSource",
    "UnknownUser",
    "effective_roles",
    "expand_composites",
    "is_person",
    "user_from_rep",
]


class DirectoryError(Exception):
    """Something the directory cannot answer. The message is safe to show to an admin."""


class DirectoryUnavailable(DirectoryError):
    """Keycloak's admin API is unreachable or refused the service account."""


class DirectoryRefused(DirectoryUnavailable):
    """The service account lacks a realm-management role this call needs (HTTP 403)."""


class UnknownUser(DirectoryError, LookupError):
    """No user of the realm has this username."""


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """A user of the realm. ``roles`` are effective ``dash`` client roles when known."""

    id: str
    username: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    enabled: bool = True
    created: datetime | None = None
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @property
    def display_name(self) -> str:
        full = " ".join(p for p in (self.first_name, self.last_name) if p)
        return full or self.username


@dataclass(frozen=True, slots=True)
class LoginEvent:
    """One saved ``LOGIN`` event of the realm."""

    time: datetime
    username: str | None
    user_id: str | None
    client_id: str | None
    ip_address: str | None


@dataclass(frozen=True, slots=True)
class RoleSource:
    """A role that grants ``dash`` client roles, with whoever holds it *directly*."""

    grants: frozenset[str]
    user_ids: frozenset[str] = frozenset()
    group_paths: frozenset[str] = frozenset()


def expand_composites(children: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """Each role key with every role it implies (itself included), following composites."""
    closure: dict[str, frozenset[str]] = {}
    for start in children:
        seen, stack = {start}, [start]
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        closure[start] = frozenset(seen)
    return closure


def effective_roles(
    *, memberships: Mapping[str, Iterable[str]], sources: Iterable[RoleSource]
) -> dict[str, frozenset[str]]:
    """Effective client roles per user id: direct, through composites, through groups.

    ``memberships`` maps a user id to the full paths of the groups the user is a direct
    member of. A role held by a group is inherited by its members and by the members of
    its subgroups (Keycloak's rule), hence :func:`roles.group_covers`.
    """
    result: dict[str, set[str]] = {uid: set() for uid in memberships}
    for source in sources:
        for uid, groups in memberships.items():
            groups = tuple(groups)
            if uid in source.user_ids or any(
                group_covers(held, g) for held in source.group_paths for g in groups
            ):
                result[uid] |= source.grants
    return {uid: frozenset(roles) for uid, roles in result.items()}


def user_from_rep(rep: Mapping[str, Any], **extra: Any) -> DirectoryUser:
    created = rep.get("createdTimestamp")
    return DirectoryUser(
        id=str(rep["id"]),
        username=normalize_username(str(rep.get("username", ""))),
        email=rep.get("email"),
        first_name=rep.get("firstName"),
        last_name=rep.get("lastName"),
        enabled=bool(rep.get("enabled", True)),
        created=datetime.fromtimestamp(created / 1000, UTC) if created else None,
        **extra,
    )


def is_person(rep: Mapping[str, Any]) -> bool:
    # Service accounts are users too in Keycloak; they hold no seat and sign nobody in.
    return not str(rep.get("username", "")).startswith("service-account-")
