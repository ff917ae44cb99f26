"""KeycloakDirectory through python-keycloak, against a fake Keycloak on a loopback port.

The fake answers with JSON shaped like Keycloak 26's admin API (brief user
representations, groups whose subgroups are listed through /children, each user's
effective client roles), and answers 404 for anything else, so a call outside what the
service account may read (client representations, role-member lists) shows up.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from keycloak import KeycloakAdmin
from portal.keycloak_admin import DirectoryRefused, DirectoryUnavailable, KeycloakDirectory
from tests.live_stack import free_port
from tests.unit.cli_fake_server import Answer, FakeServer, Seen, fake_server

ADMIN = "/admin/realms/dash"
TOKEN = "/realms/dash/protocol/openid-connect/token"
SECRET = "s3cret"
DASH = "dash-client-uuid"


# --- a fake Keycloak admin API --------------------------------------------------------


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
        return Answer(200, {"access_token": f"token-{self.token_requests}", "expires_in": 300})

    def _admin(self, seen: Seen) -> Answer:
        assert seen.headers["authorization"].startswith("Bearer token-")
        path = seen.path.removeprefix(ADMIN)
        params = {k: v[0] for k, v in seen.query.items()}
        if path in self.slow:
            self.released.wait(10)
        if path in self.fail:
            return Answer(self.fail.pop(path), {"error": "nope"})
        if path == "/users" and "search" in params:
            return Answer(200, _keycloak_search(self.answers["/users"], params))
        if path == "/users" and "username" in params:
            return Answer(
                200, [u for u in self.answers["/users"] if u["username"] == params["username"]]
            )
        body = self.answers[path]
        if isinstance(body, list) and "first" in params:
            first, size = int(params["first"]), int(params["max"])
            body = body[first : first + size]
        return Answer(200, body)


def _keycloak_search(users: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
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


@pytest.fixture
def keycloak(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKeycloak]:
    monkeypatch.setattr(KeycloakAdmin, "PAGE_SIZE", 3)  # so every list spans several pages
    with fake_server() as server:
        fake = FakeKeycloak(server, keycloak_answers())
        yield fake
        fake.released.set()


def new_directory(url: str, *, secret: str = SECRET, timeout: float = 5.0) -> KeycloakDirectory:
    """A directory with nothing cached yet."""
    return KeycloakDirectory(
        base_url=url,
        realm="dash",
        client_id="dash-admin",
        client_secret=secret,
        timeout=timeout,
    )


@pytest.fixture
def directory(keycloak: FakeKeycloak) -> KeycloakDirectory:
    return KeycloakDirectory(
        base_url=keycloak.url + "/",
        realm="dash",
        client_id="dash-admin",
        client_secret=SECRET,
        console_url="http://localhost:8080",
    )


def test_users_with_effective_roles_and_group_paths(directory: KeycloakDirectory) -> None:
    users = {u.username: u for u in directory.users_with_roles_and_groups()}
    assert sorted(users) == NAMES  # the service account is not a person
    assert users["admin"].roles == {"admin", "licensed_user", "viewer"}
    assert users["alice"].roles == {"licensed_user", "viewer"}
    assert users["alice"].groups == {"/sales/east"}
    assert users["carol"].roles == {"viewer"}  # viewer came through default-roles-dash
    assert users["carol"].groups == {"/sales/east/managers"}
    assert users["dave"].groups == frozenset()
    assert users["alice"].email == "alice@example.com"
    assert users["alice"].created is not None


def test_the_dash_client_is_found_without_viewing_clients(
    keycloak: FakeKeycloak, directory: KeycloakDirectory
) -> None:
    directory.users_with_roles_and_groups()
    paths = {path for _, path, _ in keycloak.calls}
    assert not any(p.startswith("/clients") for p in paths)  # viewing a client shows its secret
    assert not any(p.endswith(("/users", "/groups")) and "/roles" in p for p in paths)
    keycloak.answers["/roles-by-id/r-default/composites"] = []
    fresh = new_directory(keycloak.url)
    with pytest.raises(DirectoryUnavailable, match="default role"):
        fresh.users_with_roles_and_groups()


def test_snapshot_is_cached_and_the_token_reused(
    keycloak: FakeKeycloak, directory: KeycloakDirectory
) -> None:
    directory.users_with_roles_and_groups()
    calls = len(keycloak.calls)
    directory.licensed_usernames()
    assert len(keycloak.calls) == calls  # served from the short cache
    assert keycloak.token_requests == 1


def test_user_effective_roles_and_is_licensed(directory: KeycloakDirectory) -> None:
    assert directory.user_effective_roles("Alice") == {"viewer", "licensed_user"}
    assert directory.is_licensed("alice") is True
    assert directory.is_licensed("bob") is False
    assert directory.is_licensed("nobody") is False


def test_an_expired_token_is_renewed_once(
    keycloak: FakeKeycloak, directory: KeycloakDirectory
) -> None:
    keycloak.fail["/users"] = 401
    assert [u.username for u in directory.list_users()] == NAMES
    assert keycloak.token_requests == 2


def test_refused_and_unreachable_raise_typed_errors(
    keycloak: FakeKeycloak, directory: KeycloakDirectory
) -> None:
    keycloak.fail["/roles-by-id/r-default/composites"] = 403
    with pytest.raises(DirectoryRefused, match="view-realm"):
        directory.users_with_roles_and_groups()
    keycloak.fail["/roles-by-id/r-default/composites"] = 502
    with pytest.raises(DirectoryUnavailable, match="502"):
        directory.users_with_roles_and_groups()
    with pytest.raises(DirectoryUnavailable, match="refused the dash-admin service account"):
        new_directory(keycloak.url, secret="wrong").suggest_groups("east")


def test_a_stopped_keycloak_is_unreachable() -> None:
    stopped = new_directory(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DirectoryUnavailable, match=r"unreachable \(ConnectionError\)"):
        stopped.suggest_groups("east")


def test_a_keycloak_that_does_not_answer_costs_one_timeout(keycloak: FakeKeycloak) -> None:
    """Once signed in, a call that gets no answer within ``timeout`` is given up, not retried."""
    slow = new_directory(keycloak.url, timeout=0.5)
    slow.suggest_groups("east")  # signed in
    keycloak.slow.add("/groups")
    with pytest.raises(DirectoryUnavailable, match=r"unreachable \(ReadTimeout\)"):
        slow.suggest_groups("east")
    assert [path for _, path, _ in keycloak.calls].count("/groups") == 2  # one each


def test_one_keycloak_admin_per_thread(
    keycloak: FakeKeycloak, directory: KeycloakDirectory
) -> None:
    """python-keycloak's token lives in headers it rewrites: threads do not share one."""
    directory.list_users()
    directory.list_users()
    assert keycloak.token_requests == 1  # the thread keeps its token
    other = threading.Thread(target=directory.list_users)
    other.start()
    other.join()
    assert keycloak.token_requests == 2
    directory.list_users()
    assert keycloak.token_requests == 2


def test_suggestions(directory: KeycloakDirectory) -> None:
    assert directory.suggest_groups("EAST") == ["/sales/east", "/sales/east/managers"]
    assert directory.suggest_groups("/fin") == ["/finance"]
    assert directory.suggest_users("") == []
    assert directory.suggest_users("al") == ["alice"]
    assert directory.suggest_users("  Ali ") == ["alice"]


def test_the_fake_keycloak_searches_like_keycloak(keycloak: FakeKeycloak) -> None:
    """What the suggestion rules below defend against: Keycloak's own search."""
    users = keycloak.answers["/users"]
    assert len(_keycloak_search(users, {"search": "*"})) == len(users)
    assert [u["username"] for u in _keycloak_search(users, {"search": "bob@example.com"})] == [
        "bob"
    ]


@pytest.mark.parametrize(
    "text",
    ["*", "**", "a*", "*e*", '"bob"', "bob@example.com", "bob@", "b", " b ", "", "b\x00"],
)
def test_suggestions_list_nobody_for_wildcards_emails_or_one_letter(
    directory: KeycloakDirectory, text: str
) -> None:
    assert directory.suggest_users(text) == []


def test_suggestions_match_username_or_display_name_prefixes_only(
    keycloak: FakeKeycloak, directory: KeycloakDirectory
) -> None:
    keycloak.answers["/users"].append(
        {
            "id": "u-zed",
            "username": "zed",
            "firstName": "Zoe",
            "lastName": "Dexter",
            "email": "x@bo.example",
        }
    )
    assert directory.suggest_users("bo") == ["bob"]  # not zed, whose email has "bo"
    assert directory.suggest_users("zo") == ["zed"]
    assert directory.suggest_users("dex") == ["zed"]
    assert directory.suggest_users("Zoe De") == ["zed"]
    assert directory.suggest_users("x@") == []
    assert directory.suggest_users("ob") == []  # a prefix, not a part


def test_suggestions_are_capped(keycloak: FakeKeycloak, directory: KeycloakDirectory) -> None:
    keycloak.answers["/users"].extend(
        {"id": f"u-user{i:02}", "username": f"user{i:02}", "email": f"user{i:02}@example.com"}
        for i in range(40)
    )
    assert directory.suggest_users("us") == [f"user{i:02}" for i in range(10)]
    assert len(directory.suggest_users("us", limit=25)) == 25
    assert len(directory.suggest_groups("s")) == 0 and len(directory.suggest_groups("sa")) == 5


def test_unknown_principals(keycloak: FakeKeycloak, directory: KeycloakDirectory) -> None:
    users, groups = directory.unknown_principals(
        ["bob", "newcomer", "alice"], ["/sales/east", "/nope", "sales/west/managers"]
    )
    assert (users, groups) == ({"newcomer"}, {"/nope"})
    calls = len(keycloak.calls)
    assert directory.unknown_principals([], []) == (frozenset(), frozenset())
    assert len(keycloak.calls) == calls  # nothing to check: no call


def test_login_events_sign_out_and_console_links(
    keycloak: FakeKeycloak, directory: KeycloakDirectory
) -> None:
    events = directory.login_events(days=7)
    assert [e.username for e in events] == ["bob", None]
    assert events[0].ip_address == "10.0.0.2" and events[0].time.year == 2023
    _, path, params = keycloak.calls[-1]
    assert (path, params["type"]) == ("/events", "LOGIN") and "dateFrom" in params

    assert directory.user_id("Bob") == "u-bob"
    assert directory.session_ids("u-bob") == {"kc-1"}
    assert directory.session_ids("u-gone") is None
    assert not any(method != "GET" for method, _, _ in keycloak.calls)  # reads only

    console = "http://localhost:8080/admin/master/console/#/dash/users"
    assert directory.console_url() == console
    assert directory.console_url("bob") == f"{console}/u-bob/settings"
    assert directory.console_url("ghost") == console
    assert directory.console_url(user_id="u-x") == f"{console}/u-x/settings"
