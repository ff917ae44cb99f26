"""Helpers for the portal's unit tests: the portal app and an app's registry record.

Not a conftest.py on purpose (that file belongs to the token tests): test modules import
what they need from here. The app is the real ``portal.create_app`` on a temporary data
directory, with the fake user directory of :mod:`tests.unit.demo`; its test client
(:class:`~tests.unit.portal_client.PortalClient`) signs users in through real sessions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask

from portal import create_app, registry
from portal.registry import AppRecord
from portal.services import services
from portal.settings import Settings
from roles import AccessLevel
from tests.unit.demo import FakeDirectory
from tests.unit.portal_client import PortalClient

__all__ = ["ON_BOTH_ENGINES", "app_record", "make_app", "make_settings", "prepared"]

#: Runs a test that takes ``database_url`` (or ``app``) on SQLite, then on PostgreSQL.
ON_BOTH_ENGINES = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    overrides.setdefault("revocation_poll_seconds", 0)  # no Keycloak to watch here
    return Settings.from_env(data_dir=data_dir, **overrides)


def make_app(
    data_dir: Path,
    *,
    seed: bool = True,
    directory: FakeDirectory | None = None,
    database_url: str = "",
    **overrides: object,
) -> Flask:
    """The portal from ``create_app`` on a fresh SQLite database in ``data_dir``.

    Several apps on one ``data_dir`` stand for several gunicorn workers.
    """
    settings = make_settings(data_dir, seed_apps=seed, database_url=database_url, **overrides)
    app = prepared(create_app(settings))
    app.config["TESTING"] = True
    app.test_client_class = PortalClient
    services(app).directory = directory or FakeDirectory()
    listener = services(app).change_listener
    if listener is not None:  # PostgreSQL: caches in use from the first request, as in a
        assert listener.wait_listening(10), "not listening"  # worker that has warmed up
    return app


def prepared(app: Flask) -> Flask:
    """``app`` with its database as `make up` leaves it: ``flask db upgrade``, then the
    demo apps when its settings say so (``flask platform start``'s first step)."""
    with app.app_context():
        registry.upgrade_database()
        if services(app).settings.seed_apps:
            registry.seed_default_apps()
    return app


def app_record(
    slug: str = "x",
    *,
    owner: str | None = "alice",
    access: AccessLevel = AccessLevel.RESTRICTED,
    co_owner_users: Iterable[str] = (),
) -> AppRecord:
    """An app's record as the registry would hold it, for tests of pure decisions."""
    now = datetime.now(UTC)
    return AppRecord(
        slug=slug,
        title=slug.title(),
        description="",
        tags=(),
        thumbnail=None,
        owner=owner,
        co_owner_users=frozenset(co_owner_users),
        co_owner_groups=frozenset(),
        viewer_users=frozenset(),
        viewer_groups=frozenset(),
        access=access,
        visible_in_portal=True,
        created_at=now,
        updated_at=now,
    )
