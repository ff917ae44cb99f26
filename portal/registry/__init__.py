"""The app registry: which apps exist, who owns them, who may open them.

The schema is brought to the newest migration by ``flask db upgrade`` and the contract's
demo apps are registered by ``flask platform start``, both run once before the portal's
workers start (`make up`, the container), never by the app factory. ``init_app(app)``
only makes the per-process cache: every read is served from it, checked against one
version counter (shared in memory by the workers of one host, or read from the
database), and every write is one transaction that carries its own audit event.
"""

from __future__ import annotations

from flask import Flask

from portal.change_counters import change_counter
from portal.services import services

from .analytics import record_view, views_per_day
from .cache import RegistryCache
from .database import (
    MIGRATIONS_DIR,
    UNMANAGED_TABLES,
    downgrade_database,
    upgrade_database,
)
from .errors import Conflict, Forbidden, Invalid, Malformed, NotFound, RegistryError
from .policy import POLICY_TARGET, get_policy, set_policy
from .records import AppRecord, PolicyRecord, app_url
from .seed import DEFAULT_APPS, seed_default_apps
from .store import (
    app_target,
    apps_managed_by,
    apps_visible_to,
    get_app,
    list_apps,
    ownerless_apps,
    registry_version,
)
from .validation import EDITABLE_FIELDS
from .writes import initialize_app, transfer_owner, update_app

__all__ = [
    "DEFAULT_APPS",
    "EDITABLE_FIELDS",
    "MIGRATIONS_DIR",
    "POLICY_TARGET",
    "UNMANAGED_TABLES",
    "AppRecord",
    "Conflict",
    "Forbidden",
    "Invalid",
    "Malformed",
    "NotFound",
    "PolicyRecord",
    "RegistryError",
    "app_target",
    "app_url",
    "apps_managed_by",
    "apps_visible_to",
    "downgrade_database",
    "get_app",
    "get_policy",
    "init_app",
    "initialize_app",
    "list_apps",
    "ownerless_apps",
    "record_view",
    "registry_version",
    "seed_default_apps",
    "set_policy",
    "transfer_owner",
    "update_app",
    "upgrade_database",
    "views_per_day",
]


def init_app(app: Flask) -> None:
    """Make the app's registry cache (``services().registry``); the database is not touched."""
    services(app).registry = RegistryCache(change_counter(app, "registry"))
