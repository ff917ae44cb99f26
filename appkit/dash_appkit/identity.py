"""Who is asking: the identity the platform's front door hands to the app.

The front door (nginx) asks the portal whether a request may reach the app and then sets
``Plotly-User-Data: {"username", "email", "groups", "roles"}`` (``"name"`` optional),
overwriting any copy the browser sent. Only the front door can reach the app's socket, so
the app may trust this header. Outside the platform (``python app.py``) nobody sets it and
everyone is anonymous.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context, request

from dash_appkit.names import normalize_group, normalize_username

__all__ = [
    "USER_HEADER",
    "User",
    "current_user",
    "get_groups",
    "get_user_data",
    "get_username",
    "has_role",
    "user_from_header",
]

logger = logging.getLogger(__name__)

#: The request header the front door puts the identity in.
USER_HEADER = "Plotly-User-Data"

_CACHE = "_dash_appkit_user"  # flask.g attribute: (raw header, parsed user)


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in person, as the platform vouched for them."""

    username: str
    email: str | None = None
    name: str | None = None
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def has_role(self, role: str) -> bool:
        """Whether the person holds ``role`` (a client role of the ``dash`` client)."""
        return str(role) in self.roles

    def to_dict(self) -> dict[str, Any]:
        """The identity as JSON-ready data, in the header's own shape."""
        return {
            "username": self.username,
            "email": self.email,
            "name": self.name,
            "roles": sorted(self.roles),
            "groups": sorted(self.groups),
        }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _strings(value: Any) -> list[str]:
    """The strings of a JSON list; anything else (a bare string, an object) counts as none."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str) and v.strip()]


def _utf8(raw: str) -> str:
    # WSGI hands header values over as latin-1; JSON with raw UTF-8 bytes needs undoing.
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


def user_from_header(raw: str | None) -> User | None:
    """The :class:`User` in a ``Plotly-User-Data`` value; ``None`` when absent or unusable."""
    if not raw:
        return None
    try:
        data = json.loads(_utf8(raw))
    except ValueError:
        logger.warning("ignored a %s header that is not JSON", USER_HEADER)
        return None
    if not isinstance(data, dict) or _text(data.get("username")) is None:
        logger.warning("ignored a %s header without a username", USER_HEADER)
        return None
    groups = (normalize_group(g) for g in _strings(data.get("groups")))
    return User(
        username=normalize_username(data["username"]),
        email=_text(data.get("email")),
        name=_text(data.get("name")),
        roles=frozenset(r.strip() for r in _strings(data.get("roles"))),
        groups=frozenset(p for p in groups if p != "/"),
    )


def current_user() -> User | None:
    """The user of the current request, or ``None`` when anonymous or outside a request."""
    if not has_request_context():
        return None
    raw = request.headers.get(USER_HEADER)
    cached = g.get(_CACHE)
    if cached is not None and cached[0] == raw:
        return cached[1]
    user = user_from_header(raw)
    setattr(g, _CACHE, (raw, user))
    return user


def get_username() -> str | None:
    """The current user's username, or ``None`` when anonymous."""
    user = current_user()
    return user.username if user else None


def get_user_data() -> dict[str, Any]:
    """The current user's data as a dict (empty when anonymous)."""
    user = current_user()
    return user.to_dict() if user else {}


def get_groups() -> list[str]:
    """The current user's group paths, sorted (empty when anonymous)."""
    user = current_user()
    return sorted(user.groups) if user else []


def has_role(role: str) -> bool:
    """Whether the current user holds ``role`` (``False`` when anonymous)."""
    user = current_user()
    return bool(user and user.has_role(role))
