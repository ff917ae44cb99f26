"""The realm's users, roles, groups and login events, read through Keycloak's admin API.

The portal reads through python-keycloak's ``KeycloakAdmin``, signed in as the
``dash-admin`` service account with its client credentials (python-keycloak fetches and
renews the token; :mod:`.connection`). The account may only read (users,
groups, each user's roles, sign-in and admin events, sessions, the realm's default
role): it maps no role, changes no user and sees no client, so no client secret.
Everything here answers the Admin section and the App Manager's pickers; nothing here
decides who may open an app (that is the verified token's job). When Keycloak cannot
be reached every method raises :class:`DirectoryUnavailable`, so a page can show a
notice instead of failing.

``init_app(app)`` makes the app's :class:`KeycloakDirectory` (``services().directory``).
"""

from __future__ import annotations

from flask import Flask

from portal.services import services

from .directory import KeycloakDirectory
from .model import (
    DirectoryError,
    DirectoryRefused,
    DirectoryUnavailable,
    DirectoryUser,
    LoginEvent,
    UnknownUser,
)

__all__ = [
    "DirectoryError",
    "DirectoryRefused",
    "DirectoryUnavailable",
    "DirectoryUser",
    "KeycloakDirectory",
    "LoginEvent",
    "UnknownUser",
    "init_app",
]


def init_app(app: Flask) -> None:
    """Make the app's directory (``services().directory``)."""
    platform = services(app)
    platform.directory = KeycloakDirectory.from_settings(platform.settings)
