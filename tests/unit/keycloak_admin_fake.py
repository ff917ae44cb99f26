"""A fake Keycloak for KeycloakDirectory's unit tests: the token endpoint and the admin
API on a loopback port (a :mod:`tests.unit.cli_fake_server`), answering with JSON shaped
like Keycloak 26's (brief user representations, groups whose subgroups are listed
through /children, each user's effective client roles). It answers 404 for anything
else, so a call outside what the service account may read (client representations,
role-member lists) shows up.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from tests.unit.cli_fake_server import Answer, FakeServer, Seen

__all__ = ["NAMES", "SECRET", "FakeKeycloak", "keycloak_answers", "keycloak_search"]

ADMIN = "/admin/realms/dash"
TOKEN = "/realms/dash/protocol/openid-connect/token"
SECRET = "s3cret"
DASH = "dash-client-uuid"


def _user(name: str) -> dict[str, Any]:
    return {
        "id": f"u-{name}",
        "username": name,
        "firstName": name.title(),
        "email": f"{name}@example.com",
        "enabled": True,
        "createdTimestamp": 1_700_000_000_000,
    }


def _group(gid: str, path: str, children: int = 0) -> dict[str, Any]:
    return {"id": gid, "name": path.rsplit("/", 1)[1], "path": path, "subGroupCount": children}


def _role(rid: str, name: str, *, client: bool, composite: bool = False) -> dict[str, Any]:
    return {
        "id": rid,
        "name": name,
        "clientRole": client,
        "composite": composite,
        "containerId": DASH if client else "realm-uuid",
    }


NAMES = ["admin", "alice", "bob", "carol", "dave", "erin", "frank"]


def keycloak_answers() -> dict[str, Any]:
    """The contract's realm as Keycloak's admin API lists it."""
    users = [_user(n) for n in NAMES] + [_user("service-account-dash-admin")]
    return {
        "/users": users,
        "/groups": [_group("g-finance", "/finance"), _group("g-sales", "/sales", 2)],
        "/groups/g-sales/children": [
            _group("g-east", "/sales/east", 1),
            _group("g-west", "/sales/west", 1),
        ],
        "/groups/g-east/children": [_group("g-east-m", "/sales/east/managers")],
        "/groups/g-west/children": [_group("g-west-m", "/sales/west/managers")],
        "/groups/g-finance/members": [_user("erin")],
        "/groups/g-sales/members": [],
        "/groups/g-east/members": [_user("alice"), _user("bob")],
        "/groups/g-east-m/members": [_user("carol")],
        "/groups/g-west/members": [_user("frank")],
        "/groups/g-west-m/members": [],
        "": {"realm": "dash", "defaultRole": {"id": "r-default", "name": "default-roles-dash"}},
        "/roles-by-id/r-default/composites": [
            _role("r-offline", "offline_access", client=False),
            {**_role("r-acct", "manage-account", client=True), "containerId": "account-uuid"},
            _role("r-viewer", "viewer", client=True),
        ],
        **{
            f"/users/u-{name}/role-mappings/clients/{DASH}/composite": [
                _role("r-viewer", "viewer", client=True)
            ]
            for name in NAMES
        },
        f"/users/u-admin/role-mappings/clients/{DASH}/composite": [
            _role("r-viewer", "viewer", client=True),
            _role("r-lic", "licensed_user", client=True),
            _role("r-admin", "admin", client=True),
        ],
        f"/users/u-erin/role-mappings/clients/{DASH}/composite": [
            _role("r-viewer", "viewer", client=True),
            _role("r-lic", "licensed_user", client=True),
        ],
        f"/users/u-alice/role-mappings/clients/{DASH}/composite": [
            _role("r-viewer", "viewer", client=True),
            _role("r-lic", "licensed_user", client=True),
        ],
        "/users/u-bob/sessions": [{"id": "kc-1", "userId": "u-bob"}],
        "/events": [
            {
                "time": 1_700_000_100_000,
                "type": "LOGIN",
                "clientId": "dash",
                "userId": "u-bob",
                "ipAddress": "10.0.0.2",
                "details": {"username": "Bob"},
            },
            {
                "time": 1_700_000_000_000,
                "type": "LOGIN",
                "clientId": "dash",
                "userId": "u-x",
                "ipAddress": "10.0.0.3",
                "details": {},
            },
        ],
    }


class FakeKeycloak:
    """Keycloak's token endpoint and admin API on a loopback port (tests.unit.cli_fake_server).

    It pages lists by ``first``/``max`` the way Keycloak does, answers 404 for any path
    it has no answer for, and can fail a path once (``fail``) or hold it until the
    client gives up (``slow``).
    """

    def __init__(self, server: FakeServer, answers: dict[str, Any]) -> None:
        self.server = server
        self.answers = answers
        self.fail: dict[str, int] = {}  # path -> status to answer once
        self.slow: set[str] = set()  # paths answered only after the test ends
        self.released = threading.Event()
        self.token_lifetime = 300
        server.on("POST", TOKEN, self._token)
        for path in answers:
            server.on("GET", ADMIN + path, self._admin)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token_requests(self) -> int:
        return sum(seen.path == TOKEN for seen in self.server.seen)

    @property
    def calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Admin API calls: method, path after the realm, query (single values unpacked)."""
        return [
            (
                seen.method,
                seen.path.removeprefix(ADMIN),
                {k: v[0] if len(v) == 1 else v for k, v in seen.query.items()},
            )
            for seen in self.server.seen
            if seen.path.startswith(ADMIN)
        ]

    def _token(self, seen: Seen) -> Answer:
        form = seen.form()
        assert form["grant_type"] == "client_credentials"
        if (form["client_id"], form.get("client_secret")) != ("dash-admin", SECRET):
            return Answer(401, {"error": "unauthorized_client"})
        return Answer(
            200, {"access_token": f"token-{self.token_requests}", "expires_in": self.token_lifetime}
        )

    def _admin(self, seen: Seen) -> Answer:
        assert seen.headers["authorization"].startswith("Bearer token-")
        path = seen.path.removeprefix(ADMIN)
        params = {k: v[0] for k, v in seen.query.items()}
        if path in self.slow:
            self.released.wait(10)
        if path in self.fail:
            return Answer(self.fail.pop(path), {"error": "nope"})
        if path == "/users" and "search" in params:
            return Answer(200, keycloak_search(self.answers["/users"], params))
        if path == "/users" and "username" in params:
            return Answer(
                200, [u for u in self.answers["/users"] if u["username"] == params["username"]]
            )
        body = self.answers[path]
        if isinstance(body, list) and "first" in params:
            first, size = int(params["first"]), int(params["max"])
            body = body[first : first + size]
        return Answer(200, body)


def keycloak_search(users: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Keycloak 26's ``search``: every word a prefix (``*`` a wildcard) of the username,
    first name, last name or email; ``"word"`` exact; at most ``max``."""

    def matches(word: str, value: str) -> bool:
        if word.startswith('"') and word.endswith('"'):
            return value == word.strip('"')
        return re.fullmatch(re.escape(word).replace(r"\*", ".*") + ".*", value) is not None

    fields = ("username", "firstName", "lastName", "email")
    found = [
        u
        for u in users
        if all(
            any(matches(word, str(u.get(f) or "").lower()) for f in fields)
            for word in str(params["search"]).lower().split()
        )
    ]
    return found[: int(params.get("max", 100))]
