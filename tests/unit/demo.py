"""The demo users and the fake user directory of the unit tests, defined once.

The users are the contract's (README, realm-export.json) plus two of the tests' own; the
directory stands in for ``KeycloakDirectory``, a directory of users (Keycloak's admin
API), not an identity provider: who is signed in comes from a real session
(:mod:`tests.unit.portal_client`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from portal.identity import User
from portal.keycloak_admin import DirectoryUnavailable, DirectoryUser, LoginEvent

__all__ = ["CONTRACT_USERS", "DEMO_GROUPS", "DEMO_USERS", "FakeDirectory", "contract_users", "user"]


def user(name: str, *roles: str, groups: Iterable[str] = ()) -> User:
    """A verified-looking user; every user also holds ``viewer`` (Keycloak's default role)."""
    return User(
        sub=f"sub-{name}",
        username=name,
        name=name.title(),
        email=f"{name}@example.com",
        roles=frozenset({"viewer", *roles}),
        groups=frozenset(groups),
    )


#: The contract's demo users, and two more.
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

#: The realm's groups.
DEMO_GROUPS = frozenset(
    {"/sales", "/sales/east", "/sales/east/managers", "/sales/west", "/finance"}
)


def contract_users() -> dict[str, User]:
    """The contract's demo users alone."""
    return {name: DEMO_USERS[name] for name in CONTRACT_USERS}


class FakeDirectory:
    """Answers like ``KeycloakDirectory`` from ``users``; ``down`` makes every question fail.

    ``asked`` lists whose seat was asked about, ``signed_out`` whom the Admin signed out.
    """

    def __init__(self, users: Mapping[str, User] = DEMO_USERS) -> None:
        self.users = dict(users)
        self.down = False
        self.asked: list[str] = []
        self.signed_out: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise DirectoryUnavailable("Keycloak is unreachable (ConnectionError).")

    def users_with_roles_and_groups(self) -> list[DirectoryUser]:
        self._check()
        return [
            DirectoryUser(
                id=f"id-{u.username}",
                username=u.username,
                email=u.email,
                first_name=u.name,
                roles=u.roles,
                groups=u.groups,
            )
            for u in sorted(self.users.values(), key=lambda u: u.username)
        ]

    def licensed_usernames(self) -> set[str]:
        self._check()
        return {n for n, u in self.users.items() if "licensed_user" in u.roles}

    def is_licensed(self, username: str) -> bool:
        self.asked.append(username)
        return username.lower() in self.licensed_usernames()

    def suggest_users(self, prefix: str) -> list[str]:
        self._check()
        return sorted(n for n in self.users if n.startswith(prefix.lower()))

    def suggest_groups(self, prefix: str) -> list[str]:
        self._check()
        return sorted(p for p in DEMO_GROUPS if prefix.lower().strip("/") in p)

    def unknown_principals(
        self, users: Iterable[str], groups: Iterable[str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        self._check()
        return frozenset(set(users) - set(self.users)), frozenset(set(groups) - DEMO_GROUPS)

    def login_events(self, days: int = 30) -> list[LoginEvent]:
        self._check()
        now = datetime.now(UTC)
        return [
            LoginEvent(
                time=now, username="bob", user_id="id-bob", client_id="dash", ip_address="127.0.0.1"
            )
        ]

    def user_id(self, username: str) -> str:
        self._check()
        self.signed_out.append(username)
        return f"sub-{username}"

    def console_url(self, username: str | None = None, *, user_id: str | None = None) -> str:
        return "http://kc.test/admin/master/console/#/dash/users" + (
            f"/{user_id}" if user_id else ""
        )

    def console_home(self, section: str = "") -> str:
        return f"http://kc.test/admin/master/console/#/dash/{section}"
