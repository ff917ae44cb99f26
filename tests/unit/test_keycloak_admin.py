"""KeycloakDirectory through python-keycloak, against a fake Keycloak on a loopback port
(:mod:`tests.unit.keycloak_admin_fake`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from keycloak import KeycloakAdmin
from portal.keycloak_admin import DirectoryRefused, DirectoryUnavailable, KeycloakDirectory
from tests.live_stack import free_port
from tests.unit.cli_fake_server import fake_server
from tests.unit.keycloak_admin_fake import (
    NAMES,
    SECRET,
    FakeKeycloak,
    keycloak_answers,
    keycloak_search,
)


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


def test_a_token_near_its_end_is_renewed_before_the_call(
    keycloak: FakeKeycloak, directory: KeycloakDirectory
) -> None:
    keycloak.token_lifetime = 2  # python-keycloak renews after 90% of it
    directory.list_users()
    directory.list_users()
    assert keycloak.token_requests == 1
    time.sleep(2)
    directory.list_users()
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


def test_a_realm_not_there_yet_is_no_empty_answer(keycloak: FakeKeycloak) -> None:
    """While Keycloak imports the realm its token endpoint answers 404: that must not
    read as "no such user" or "no sessions left" (which would end the user's sessions)."""
    starting = KeycloakDirectory(
        base_url=keycloak.url, realm="starting", client_id="dash-admin", client_secret=SECRET
    )
    with pytest.raises(DirectoryUnavailable, match=r"service account \(HTTP 404\)"):
        starting.session_ids("u-bob")
    with pytest.raises(DirectoryUnavailable):
        starting.is_licensed("alice")


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


def test_threads_share_one_sign_in(keycloak: FakeKeycloak) -> None:
    """Threads that start at once share one KeycloakAdmin and wait for one token request
    (python-keycloak's token fetch rewrites headers that every call reads)."""
    fresh = new_directory(keycloak.url)
    start = threading.Barrier(6)
    answers: list[int] = []

    def ask() -> None:
        start.wait()
        answers.append(len(fresh.list_users()))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [len(NAMES)] * 6
    assert keycloak.token_requests == 1


def test_suggestions(directory: KeycloakDirectory) -> None:
    assert directory.suggest_groups("EAST") == ["/sales/east", "/sales/east/managers"]
    assert directory.suggest_groups("/fin") == ["/finance"]
    assert directory.suggest_users("") == []
    assert directory.suggest_users("al") == ["alice"]
    assert directory.suggest_users("  Ali ") == ["alice"]


def test_the_fakekeycloak_searches_like_keycloak(keycloak: FakeKeycloak) -> None:
    """What the suggestion rules below defend against: Keycloak's own search."""
    users = keycloak.answers["/users"]
    assert len(keycloak_search(users, {"search": "*"})) == len(users)
    assert [u["username"] for u in keycloak_search(users, {"search": "bob@example.com"})] == ["bob"]


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
