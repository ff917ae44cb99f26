"""Helpers for the registry and /api/apps tests: the portal app and fake identities.

Not a conftest.py on purpose (that file belongs to the token tests): test modules import
what they need from here. The app is the real ``portal.create_app`` on a temporary data
directory, with a fake user directory and one test-only hook that sets ``g.user`` from
the ``X-Test-User`` header. That hook exists only in these unit tests: the real portal
sets ``g.user`` from a verified session or bearer token, never from a header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, g, request

from portal import create_app, registry
from portal.auth import authenticate_request
from portal.identity import User
from portal.registry import AppRecord
from portal.services import services
from portal.settings import Settings
from roles import AccessLevel

__all__ = [
    "CONTRACT_USERS",
    "DEMO_USERS",
    "TEST_USER_HEADER",
    "FakeDirectory",
    "app_record",
    "install_test_identity",
    "make_app",
    "make_settings",
    "prepared",
    "user",
]

TEST_USER_HEADER = "X-Test-User"


def user(name: str, *roles: str, groups: Iterable[str] = ()) -> User:
    """A verified-looking user; every user also holds ``viewer`` (Keycloak's default role)."""
    return User(
        sub=f"sub-{name}",
        username=name,
        roles=frozenset({"viewer", *roles}),
        groups=frozenset(groups),
    )


#: The contract's demo users.
DEMO_USERS: dict[str, User] = {
    "admin": user("admin", "admin", "licensed_user"),
    "alice": user("alice", "licensed_user", groups=["/sales/east"]),
    "bob": user("bob", groups=["/sales/east"]),
    "carol": user("carol", groups=["/sales/east/managers"]),
    "dave": user("dave"),
    "erin": user("erin", "licensed_user", groups=["/finance"]),
    "frank": user("frank", groups=["/sales/west"]),
    # Not in the contract (left out of CONTRACT_USERS): a seat holder without any app,
    # and an admin without a seat.
    "gina": user("gina", "licensed_user"),
    "root": user("root", "admin"),
}


#: The names of the contract's demo users (DEMO_USERS adds two of its own).
CONTRACT_USERS = ("admin", "alice", "bob", "carol", "dave", "erin", "frank")


class FakeDirectory:
    """Stands in for ``KeycloakDirectory`` (a user directory, not an identity provider)."""

    def __init__(self, licensed: Iterable[str] = ("admin", "alice", "erin", "gina")) -> None:
        self.licensed = {name.lower() for name in licensed}
        self.asked: list[str] = []
        self.down = False

    def is_licensed(self, username: str) -> bool:
        self.asked.append(username)
        if self.down:
            raise ConnectionError("keycloak is down")
        return username.lower() in self.licensed

    def licensed_usernames(self) -> set[str]:
        return set(self.licensed)

    def unknown_principals(
        self, users: Iterable[str], groups: Iterable[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """The demo users and the contract's groups are known; nobody else."""
        known_groups = {g for u in DEMO_USERS.values() for g in u.groups} | {"/sales", "/finance"}
        return frozenset(set(users) - set(DEMO_USERS)), frozenset(set(groups) - known_groups)


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    overrides.setdefault("revocation_poll_seconds", 0)  # no Keycloak to watch here
    return Settings.from_env(data_dir=data_dir, **overrides)


def make_app(
    data_dir: Path,
    *,
    seed: bool = True,
    directory: FakeDirectory | None = None,
    database_url: str = "",
) -> Flask:
    """The portal from ``create_app`` on a fresh SQLite database in ``data_dir``."""
    settings = make_settings(data_dir, seed_apps=seed, database_url=database_url)
    app = prepared(create_app(settings))
    app.config["TESTING"] = True
    services(app).directory = directory or FakeDirectory()
    install_test_identity(app, DEMO_USERS)
    return app


def prepared(app: Flask) -> Flask:
    """``app`` with its database as `make up` leaves it: ``flask db upgrade``, then the
    demo apps when its settings say so (``flask platform start``'s first step)."""
    with app.app_context():
        registry.upgrade_database()
        if services(app).settings.seed_apps:
            registry.seed_default_apps()
    return app


def install_test_identity(app: Flask, users: Mapping[str, User]) -> None:
    """TEST ONLY: pick ``g.user`` from the ``X-Test-User`` header.

    Runs right after the platform's identity loader and CSRF check, so the guard and the
    views see the fake identity. Acceptable in unit tests only; the real portal never
    trusts a header.
    """

    def _test_identity() -> None:
        name = request.headers.get(TEST_USER_HEADER)
        if name:
            g.user = users[name]
            g.auth_via = "bearer"  # no session cookie rides along: no CSRF token needed

    hooks = app.before_request_funcs[None]
    hooks.insert(hooks.index(authenticate_request) + 1, _test_identity)


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
