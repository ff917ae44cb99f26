"""The verified identity of whoever is asking.

A :class:`User` is built only from claims that were verified (an ID token after the
code flow, or a bearer access token checked against the realm's keys). The auth layer
puts it on ``flask.g`` for the duration of one request; nothing the browser sends is
ever read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context

from roles import normalize_group, normalize_username

__all__ = [
    "ClaimsError",
    "User",
    "authenticated_at",
    "current_user",
    "is_service_account",
    "service_account_name",
    "user_from_claims",
]

#: Keycloak names the user behind a client's service account ``service-account-<client>``.
SERVICE_ACCOUNT_PREFIX = "service-account-"


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in person, as Keycloak vouched for them."""

    sub: str
    username: str
    email: str | None = None
    name: str | None = None
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def has_role(self, role: str) -> bool:
        return str(role) in self.roles

    def to_dict(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "username": self.username,
            "email": self.email,
            "name": self.name,
            "roles": sorted(self.roles),
            "groups": sorted(self.groups),
        }


class ClaimsError(ValueError):
    """Verified claims that still cannot describe a user (no ``sub``, no username)."""


def user_from_claims(claims: Mapping[str, Any], *, client_id: str) -> User:
    """Build a :class:`User` from verified token claims.

    Roles are the client roles of ``client_id`` (``resource_access.<client>.roles``);
    groups are full paths (``/sales/east``) from the ``groups`` claim.
    """
    sub = claims.get("sub")
    username = claims.get("preferred_username")
    if not isinstance(sub, str) or not sub:
        raise ClaimsError("token has no subject")
    if not isinstance(username, str) or not username.strip():
        raise ClaimsError("token has no preferred_username")
    access = claims.get("resource_access") or {}
    client = access.get(client_id) if isinstance(access, Mapping) else None
    roles = client.get("roles", []) if isinstance(client, Mapping) else []
    groups = claims.get("groups") or []
    email = claims.get("email")
    name = claims.get("name")
    return User(
        sub=sub,
        username=normalize_username(username),
        email=email if isinstance(email, str) else None,
        name=name if isinstance(name, str) else None,
        roles=frozenset(r for r in roles if isinstance(r, str)),
        groups=frozenset(normalize_group(p) for p in groups if isinstance(p, str) and p.strip("/")),
    )


def is_service_account(username: str) -> bool:
    """Whether a username is a client's service account rather than a person."""
    return normalize_username(username).startswith(SERVICE_ACCOUNT_PREFIX)


def service_account_name(client_id: str) -> str:
    """The username of ``client_id``'s service account."""
    return normalize_username(SERVICE_ACCOUNT_PREFIX + client_id)


def authenticated_at(claims: Mapping[str, Any]) -> float:
    """When a token's sign-in happened: ``auth_time`` survives refreshes, ``iat`` does not."""
    value = claims.get("auth_time", claims.get("iat"))
    return float(value) if isinstance(value, int | float) else 0.0


def current_user() -> User | None:
    """The verified user of the current request, or ``None`` when anonymous."""
    if not has_request_context():
        return None
    return g.get("user")
