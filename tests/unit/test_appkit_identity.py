"""dash_appkit's identity: what the front door's Plotly-User-Data header makes of a request."""

from __future__ import annotations

import json
import subprocess
import sys

import dash_appkit
import pytest
from dash_appkit.identity import USER_HEADER, User, current_user, user_from_header
from flask import Flask

server = Flask(__name__)


def header(**data) -> dict[str, str]:
    return {USER_HEADER: json.dumps(data)}


def who(headers: dict[str, str] | None = None) -> User | None:
    with server.test_request_context(headers=headers or {}):
        return current_user()


def test_a_full_header_becomes_a_user():
    user = who(
        header(
            username=" Bob ",
            email="bob@example.com",
            name="Bob Builder",
            roles=["viewer", "licensed_user"],
            groups=["/sales/east", "sales/west/", "//finance//q1"],
        )
    )
    assert user == User(
        username="bob",
        email="bob@example.com",
        name="Bob Builder",
        roles=frozenset({"viewer", "licensed_user"}),
        groups=frozenset({"/sales/east", "/sales/west", "/finance/q1"}),
    )
    assert user.has_role("licensed_user") and not user.has_role("admin")


def test_the_helpers_read_the_current_request():
    headers = header(username="carol", roles=["viewer"], groups=["/sales/east/managers"])
    with server.test_request_context(headers=headers):
        assert dash_appkit.get_username() == "carol"
        assert dash_appkit.get_groups() == ["/sales/east/managers"]
        assert dash_appkit.has_role("viewer") and not dash_appkit.has_role("admin")
        assert dash_appkit.get_user_data() == {
            "username": "carol",
            "email": None,
            "name": None,
            "roles": ["viewer"],
            "groups": ["/sales/east/managers"],
        }


def test_anonymous_without_the_header_or_outside_a_request():
    assert current_user() is None  # no request at all
    with server.test_request_context():
        assert dash_appkit.current_user() is None
        assert dash_appkit.get_username() is None
        assert dash_appkit.get_groups() == []
        assert dash_appkit.get_user_data() == {}
        assert dash_appkit.has_role("viewer") is False


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not json",
        "{'username': 'bob'}",  # Python, not JSON
        '{"username": "bob"',  # cut short
        '["bob"]',
        '"bob"',
        "null",
        "{}",
        '{"username": ""}',
        '{"username": "   "}',
        '{"username": 7}',
        '{"username": ["admin"]}',
        '{"user": "bob", "groups": ["/sales/east"]}',  # RStudio-Connect-Credentials' shape
        # Two copies joined by a proxy ("a, b") are not one identity, and neither wins.
        '{"username": "bob"}, {"username": "admin", "roles": ["admin"]}',
    ],
)
def test_unusable_headers_mean_anonymous(raw):
    assert user_from_header(raw) is None
    assert who({USER_HEADER: raw}) is None


def test_forged_looking_fields_grant_nothing():
    user = who(
        header(
            username="mallory",
            roles="admin",  # a string, not a list: iterating it would give "a", "d", ...
            groups={"/sales/east": True},  # an object, not a list
            admin=True,
            sub="someone-else",
            is_superuser=1,
        )
    )
    assert user == User(username="mallory")
    assert not user.has_role("admin") and not user.has_role("a")
    mixed = who(header(username="eve", roles=["viewer", 1, None, ["admin"], ""], groups=["/", 3]))
    assert mixed.roles == frozenset({"viewer"}) and mixed.groups == frozenset()
    assert who(header(username="eve", email=5, name={"x": 1})) == User(username="eve")


def test_only_the_header_counts():
    # Cookies, query strings and other headers carry no identity: only the front door's header.
    with server.test_request_context(
        "/?username=admin",
        headers={"X-Forwarded-User": "admin", "Remote-User": "admin", "Cookie": "user=admin"},
    ):
        assert current_user() is None


def test_non_ascii_names_arrive_whole():
    escaped = json.dumps({"username": "zoe", "name": "Zoë Ångström"})  # \u escapes
    raw_utf8 = json.dumps({"username": "zoe", "name": "Zoë"}, ensure_ascii=False)
    assert user_from_header(escaped).name == "Zoë Ångström"
    as_wsgi_gives_it = raw_utf8.encode().decode("latin-1")  # WSGI header values are latin-1
    assert user_from_header(as_wsgi_gives_it).name == "Zoë"


def test_each_request_has_its_own_user():
    with server.test_request_context(headers=header(username="alice")):
        assert current_user().username == "alice"
        assert current_user() is current_user()  # parsed once per request
    with server.test_request_context(headers=header(username="frank")):
        assert current_user().username == "frank"
    with server.test_request_context():
        assert current_user() is None


def test_logout_link_points_at_the_portals_sign_out_page():
    link = dash_appkit.logout_link()
    assert type(link).__name__ == "A" and link.children == "Sign out"
    assert link.href == "/logout"
    assert dash_appkit.logout_link("Log off", color="red").style == {"color": "red"}


def test_the_library_imports_neither_dash_nor_numpy_nor_the_portal():
    code = (
        "import sys, dash_appkit, dash_appkit.rls, dash_appkit.serve, dash_appkit.platform\n"
        "heavy = {'dash', 'numpy', 'pandas', 'portal', 'roles'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")
