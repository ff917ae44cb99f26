"""The platform's long-lived objects of one portal app, in one typed place.

``create_app`` makes a :class:`Services` at ``app.extensions["portal"]`` holding the
settings; each area's ``init_app`` then sets the object it owns (the Keycloak client,
the directory, the registry cache, hosting, the background schedules). Code that runs in
a request or app context reads them through :func:`services`; a test that needs a fake
replaces the attribute (``services(app).directory = FakeDirectory()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from portal.auth.provider import Provider
    from portal.auth.purge import PurgeSchedule
    from portal.auth.revocation import AdminEventWatcher
    from portal.change_notify import ChangeListener
    from portal.deploys import Hosting
    from portal.keycloak_admin import KeycloakDirectory
    from portal.registry.cache import RegistryCache
    from portal.settings import Settings

__all__ = ["EXTENSION_KEY", "Services", "services"]

#: Where the services live in ``app.extensions``.
EXTENSION_KEY = "portal"


@dataclass(eq=False)
class Services:
    """What one portal app runs on. Each field is set by the ``init_app`` named beside it."""

    settings: Settings
    #: The OIDC client of Keycloak (portal.auth).
    provider: Provider = field(init=False)
    #: Expired sessions and sign-ins are deleted on this schedule (portal.auth).
    purge: PurgeSchedule = field(init=False)
    #: Reads Keycloak's admin events to revoke users; None when switched off (portal.auth).
    revocation_watcher: AdminEventWatcher | None = field(init=False, default=None)
    #: Users, roles, groups and events, through Keycloak's admin API (portal.keycloak_admin).
    directory: KeycloakDirectory = field(init=False)
    #: App records kept per process (portal.registry).
    registry: RegistryCache = field(init=False)
    #: Where apps live and what runs them (portal.deploys).
    hosting: Hosting = field(init=False)
    #: PostgreSQL's notifications of changes to cached data; None without (portal.change_counters).
    change_listener: ChangeListener | None = field(init=False, default=None)

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION_KEY] = self


def services(app: Flask | None = None) -> Services:
    """The services of ``app`` (default: the app of the current request or app context)."""
    return (app or current_app).extensions[EXTENSION_KEY]
