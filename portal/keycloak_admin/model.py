"""What the directory answers with: users, sign-in events and typed errors.

Kept apart from the HTTP code so pages and tests can use them without a Keycloak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from portal.identity import is_service_account
from roles import normalize_username

__all__ = [
    "DirectoryError",
    "DirectoryRefused",
    "DirectoryUnavailable",
    "DirectoryUser",
    "LoginEvent",
    "UnknownUser",
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
    return not is_service_account(str(rep.get("username", "")))
