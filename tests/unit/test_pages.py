"""The Portal, App Manager and Admin pages, rendered for each kind of user.

The app is the real ``portal.create_app`` on a fresh SQLite database with the
contract's seeded apps; users sign in through real sessions (tests.unit.portal_client).
One thing is replaced, for these tests only: a fake user directory standing in for
Keycloak's admin API (a directory of users, not an identity provider).
"""

from __future__ import annotations

import time
from html import escape as html_escape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import audit, registry
from portal.auth import revocation
from portal.services import services
from roles import AccessLevel
from tests.unit.conftest_registry import make_app
from tests.unit.demo import DEMO_USERS, FakeDirectory, contract_users, user


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """One app for the whole module (building one runs the migrations). Tests that
    change the registry put it back; the directory is reset before every test."""
    return make_app(tmp_path_factory.mktemp("pages"))


@pytest.fixture(autouse=True)
def directory(app: Flask) -> FakeDirectory:
    fake = FakeDirectory(contract_users())
    services(app).directory = fake
    return fake


def get(app: Flask, path: str, who: str | None = None) -> tuple[int, str]:
    client: FlaskClient = app.test_client()
    response = client.get(path, user=who)
    return response.status_code, response.get_data(as_text=True)


def post(app: Flask, path: str, who: str, data: dict[str, object]) -> tuple[int, str]:
    client = app.test_client()
    response = client.post(path, data=data, user=who, follow_redirects=True)
    return response.status_code, response.get_data(as_text=True)


def cards(html: str) -> set[str]:
    """The app links shown as portal cards."""
    return {
        slug for slug in ("sales", "hello", "public", "finance") if f'href="/apps/{slug}/"' in html
    }


# --- the Portal -----------------------------------------------------------------------


def test_anonymous_portal_shows_only_the_public_app_and_a_sign_in_button(app: Flask) -> None:
    status, html = get(app, "/")
    assert status == 200
    assert cards(html) == {"public"}
    assert 'href="/login?next=/"' in html and ">Sign in</a>" in html
    assert "Sign out" not in html
    assert "Unauthenticated" in html


def test_bob_sees_sales_hello_public_but_not_finance(app: Flask) -> None:
    status, html = get(app, "/", "bob")
    assert status == 200
    assert cards(html) == {"sales", "hello", "public"}
    assert "Bob" in html and 'class="role role-viewer"' in html
    assert 'action="/logout"' in html and 'name="csrf_token"' in html
    assert "App Manager" not in html  # a viewer has no App Manager


def test_dave_does_not_see_sales(app: Flask) -> None:
    _, html = get(app, "/", "dave")
    assert cards(html) == {"hello", "public"}


def test_portal_search_hides_cards_that_do_not_match(app: Flask) -> None:
    _, html = get(app, "/?q=rows", "bob")  # only the Sales description says rows
    articles = html.split("<article")[1:]
    shown = [a for a in articles if not a.startswith(' class="card" hidden')]
    assert len(articles) == 3  # all rendered, so the script can show them again
    assert len(shown) == 1 and "/apps/sales/" in shown[0]
    _, html = get(app, "/?tag=demo", "bob")
    assert 'class="tag active" href="/?tag=demo"' in html


def test_plotly_is_served_locally(app: Flask) -> None:
    response = app.test_client().get("/vendor/plotly.min.js")
    assert response.status_code == 200 and "javascript" in response.mimetype
    assert b"plotly" in response.get_data()[:2000].lower()


def test_error_page_is_html(app: Flask) -> None:
    status, html = get(app, "/no-such-page", "bob")
    assert status == 404 and "Not found" in html and "Back to the portal" in html


# --- the App Manager ------------------------------------------------------------------


def test_app_manager_needs_a_seat(app: Flask) -> None:
    assert get(app, "/manager/", "bob")[0] == 403
    response = app.test_client().get("/manager/")
    assert response.status_code == 302 and response.location.startswith("/login?next=/manager/")


def test_alice_manages_sales_only_and_admin_all_four(app: Flask) -> None:
    _, html = get(app, "/manager/", "alice")
    assert "/manager/apps/sales" in html
    assert not {"/manager/apps/finance", "/manager/apps/hello"} & {
        s for s in ("/manager/apps/finance", "/manager/apps/hello") if s in html
    }
    _, html = get(app, "/manager/", "admin")
    for slug in ("sales", "hello", "public", "finance"):
        assert f"/manager/apps/{slug}" in html


def test_app_settings_page_for_the_owner_with_analytics(app: Flask) -> None:
    with app.app_context():
        registry.record_view("sales", "bob")
        registry.record_view("sales", "carol")
    status, html = get(app, "/manager/apps/sales", "alice")
    assert status == 200
    assert 'id="app-form"' in html and 'value="restricted"' in html
    assert '"groups": ["/sales"]' in html  # the settings the script starts from
    assert "Viewer analytics" in html and 'src="/vendor/plotly.min.js"' in html
    assert "cdn" not in html.lower()
    assert get(app, "/manager/apps/sales", "erin")[0] == 403
    assert get(app, "/manager/apps/nope", "alice")[0] == 404


def test_suggestions_come_from_the_directory(app: Flask) -> None:
    client = app.test_client()
    answer = client.get("/manager/suggest?kind=group&q=east", user="alice")
    assert answer.json == {"suggestions": ["/sales/east", "/sales/east/managers"]}
    answer = client.get("/manager/suggest?kind=user&q=bo", user="alice")
    assert answer.json == {"suggestions": ["bob"]}
    assert client.get("/manager/suggest?q=bo", user="bob").status_code == 403


def test_a_licensed_user_creates_an_app(app: Flask) -> None:
    _, html = get(app, "/manager/", "erin")
    assert 'action="/manager/initialize"' in html
    status, html = post(app, "/manager/initialize", "erin", {"slug": "greeter", "title": "Hi"})
    assert status == 200 and "is created" in html
    with app.app_context():
        record = registry.get_app("greeter")
    assert record is not None and record.owner == "erin" and record.access.value == "restricted"
    assert record.title == "Hi" and not record.visible_in_portal
    assert "already registered" in post(app, "/manager/initialize", "erin", {"slug": "greeter"})[1]
    assert "slug" in post(app, "/manager/initialize", "erin", {"slug": "Bad Slug"})[1]
    assert post(app, "/manager/initialize", "bob", {"slug": "other"})[0] == 403
    assert cards(get(app, "/", "bob")[1]) == {"sales", "hello", "public"}  # Restricted: not shared


@pytest.mark.parametrize(
    "back",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "\t//evil.example",
        "/\\evil.example",
        "//evil.example",
        "/%09/evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
    ],
)
def test_form_posts_return_only_to_local_paths(app: Flask, back: str) -> None:
    """redirect_back uses safe_next: browsers drop tabs and newlines and read \\ as /."""
    client = app.test_client()
    answer = client.post(
        "/manager/initialize",
        data={"slug": "Bad Slug", "back": back},
        user="alice",
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/manager/"
    kept = client.post(
        "/manager/initialize",
        data={"slug": "Bad Slug", "back": "/manager/apps/sales?tab=1"},
        user="alice",
    )
    assert kept.headers["Location"] == "/manager/apps/sales?tab=1"


def test_grants_keycloak_does_not_know_are_kept_and_flagged(
    app: Flask, directory: FakeDirectory
) -> None:
    """Dash Enterprise's case: granting an external IdP's user before their first sign-in."""
    client = app.test_client()
    _, html = get(app, "/manager/apps/sales", "alice")
    assert 'id="unknown-grants"' in html and "Keycloak does not know" not in html
    grants = {"users": ["bob", "newcomer"], "groups": ["/sales", "/nope"]}
    answer = client.patch("/api/apps/sales", json={"viewers": grants}, user="alice")
    assert answer.status_code == 200, answer.get_json()
    try:
        _, html = get(app, "/manager/apps/sales", "alice")
        assert "Keycloak does not know newcomer: not yet signed in." in html
        assert "/nope: no such group in Keycloak (yet)." in html
        assert "bob:" not in html and "/sales:" not in html
        found = client.get("/manager/apps/sales/unknown-grants", user="alice").get_json()
        assert (found["users"], found["groups"]) == (["newcomer"], ["/nope"])
        assert client.get("/manager/apps/sales/unknown-grants", user="erin").status_code == 403
        directory.down = True
        _, html = get(app, "/manager/apps/sales", "alice")
        assert "Names not checked: Keycloak is unreachable" in html
    finally:
        client.patch(
            "/api/apps/sales", json={"viewers": {"users": [], "groups": ["/sales"]}}, user="alice"
        )


# --- Admin ----------------------------------------------------------------------------


def test_admin_section_is_for_admins_only(app: Flask) -> None:
    for path in ("/admin/", "/admin/users", "/admin/activity", "/admin/apps", "/admin/audit"):
        assert get(app, path, "alice")[0] == 403, path
        assert get(app, path, "admin")[0] == 200, path


def test_admin_users_show_effective_roles_and_groups(app: Flask) -> None:
    _, html = get(app, "/admin/users", "admin")
    assert "/sales/east/managers" in html and "carol" in html
    assert "Sign out everywhere" in html and "licensed_user" in html
    _, html = get(app, "/admin/activity", "admin")
    assert "Recent sign-ins" in html and "127.0.0.1" in html and "plotly" in html


def test_seats_within_and_over_the_licence(app: Flask, directory: FakeDirectory) -> None:
    _, html = get(app, "/admin/", "admin")
    assert "3 <span" in html and "Over the licence" not in html
    for i in range(8):  # 11 seat holders for 10 seats
        directory.users[f"dev{i}"] = user(f"dev{i}", "licensed_user")
    _, html = get(app, "/admin/", "admin")
    assert "Over the licence: 11 users hold licensed_user" in html


def transfer_back(app: Flask, **owners: str) -> None:
    with app.app_context():
        for slug, owner in owners.items():
            registry.transfer_owner(
                slug, owner, actor=DEMO_USERS["admin"], holds_seat=lambda _name: True
            )


def test_ownerless_app_is_flagged_and_transferred(app: Flask, directory: FakeDirectory) -> None:
    directory.users["alice"] = user("alice", groups=["/sales/east"])  # alice lost her seat
    _, html = get(app, "/admin/apps", "admin")
    assert "Ownerless: alice lost licensed_user" in html
    _, html = get(app, "/admin/", "admin")
    assert "Ownerless apps" in html
    del directory.users["alice"]  # and then was deleted
    assert "Ownerless: alice no longer exists" in get(app, "/admin/apps", "admin")[1]

    status, html = post(app, "/admin/apps/transfer", "admin", {"only": "sales", "new_owner": "bob"})
    assert status == 200 and "bob has no licensed_user seat" in html
    try:
        _, html = post(app, "/admin/apps/transfer", "admin", {"only": "sales", "new_owner": "Erin"})
        assert "erin now owns sales" in html
        with app.app_context():
            assert registry.get_app("sales").owner == "erin"
        assert "Ownerless:" not in get(app, "/admin/apps", "admin")[1]
    finally:
        transfer_back(app, sales="alice")


def test_bulk_transfer(app: Flask) -> None:
    data = {"slug": ["hello", "public"], "new_owner": "erin"}
    assert post(app, "/admin/apps/transfer", "alice", data)[0] == 403
    try:
        _, html = post(app, "/admin/apps/transfer", "admin", data)
        assert "erin now owns hello, public" in html
    finally:
        transfer_back(app, hello="admin", public="admin")


def test_sign_out_everywhere_is_audited(app: Flask, directory: FakeDirectory) -> None:
    _, html = post(app, "/admin/users/Bob/sign-out", "admin", {})
    assert "bob is signed out everywhere" in html
    assert directory.signed_out == ["bob"]
    with app.app_context():  # tokens from bob's earlier sign-ins are refused from now on
        assert revocation.not_before("sub-bob") == pytest.approx(time.time(), abs=60)
    _, html = get(app, "/admin/audit", "admin")
    assert "user.sign_out" in html and "user:bob" in html
    with app.app_context():
        assert audit.recent(limit=1)[0]["actor"] == "admin"


def test_viewer_access_policy(app: Flask) -> None:
    _, html = get(app, "/admin/policy", "admin")
    assert 'value="unauthenticated" checked' in html
    try:
        _, html = post(app, "/admin/policy", "admin", {"allowed": ["authenticated"]})
        assert "policy saved" in html
        with app.app_context():
            assert not registry.get_policy().allows(AccessLevel.UNAUTHENTICATED)
            assert registry.get_app("public").access == AccessLevel.AUTHENTICATED
        assert cards(get(app, "/")[1]) == set()  # nothing is public any more
        assert "Not allowed by the admins" in get(app, "/manager/apps/public", "admin")[1]
    finally:
        with app.app_context():
            registry.set_policy(allowed_access_levels=list(AccessLevel), actor=DEMO_USERS["admin"])
            registry.update_app("public", {"access": "unauthenticated"}, actor=DEMO_USERS["admin"])
    assert cards(get(app, "/")[1]) == {"public"}


def test_admin_pages_survive_keycloak_being_down(app: Flask, directory: FakeDirectory) -> None:
    directory.down = True
    for path in ("/admin/", "/admin/users", "/admin/activity", "/admin/apps"):
        status, html = get(app, path, "admin")
        assert status == 200, path
        assert "admin API is unavailable" in html, path
    client = app.test_client()
    answer = client.get("/manager/suggest?kind=user&q=a", user="alice")
    assert answer.status_code == 503 and answer.json["suggestions"] == []


def test_admin_overview_says_which_app_isolation_is_in_force(app: Flask) -> None:

    with app.app_context():
        isolation = services().hosting.isolation
    _, html = get(app, "/admin/", "admin")
    assert 'id="isolation"' in html
    # Whatever this machine offers, the page says it in the words the platform uses.
    assert html_escape(isolation.describe()) in html
