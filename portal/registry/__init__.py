"""The app registry: which apps exist, who owns them, who may open them.

``init_app(app)`` brings the schema to the newest migration and registers the
contract's demo apps (once, under a file lock, so concurrent workers do not race), then
drops its database connections so none crosses a fork. After that, every read is
served from a per-process cache checked against one version counter (shared in memory
by the workers of one host, or read from the database), and every write
is one transaction that carries its own audit event.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from portal.extensions import db
from portal.generation import Generation

from .analytics import record_view, views_per_day
from .cache import RegistryCache
from .database import (
    MIGRATIONS_DIR,
    UNMANAGED_TABLES,
    downgrade_database,
    file_lock,
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

#: Name of the lock file in ``settings.data_dir`` that serialises start-up.
INIT_LOCK_NAME = "registry-init.lock"
#: The counter file in ``settings.data_dir`` that registry writes advance (one host).
REGISTRY_GENERATION = "registry.generation"


def init_app(app: Flask) -> None:
    """Migrate the schema to head, seed the demo apps (if ``settings.seed_apps``), set up the cache.

    Needs ``app.extensions["portal_settings"]`` and ``db.init_app(app)`` done first.
    """
    settings = app.extensions["portal_settings"]
    generation = None
    if settings.host_cache:
        generation = Generation(settings.data_dir / REGISTRY_GENERATION)
    app.extensions["portal_registry"] = RegistryCache(generation)
    with app.app_context():
        with file_lock(Path(settings.data_dir) / INIT_LOCK_NAME):
            upgrade_database()
            if settings.seed_apps:
                seed_default_apps()
        db.session.remove()
        # gunicorn forks after the app is built: no pooled connection may cross the fork.
        db.engine.dispose()
