"""/api/apps: every status code of the contract, for each demo user.

Users sign in through real sessions (tests.unit.portal_client), whose writes carry the
session's CSRF token; CSRF itself is checked globally by the platform, not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import audit, registry
from tests.unit.conftest_registry import make_app
from tests.unit.demo import DEMO_USERS, FakeDirectory


@pytest.fixture
def directory() -> FakeDirectory:
    return FakeDirectory()


@pytest.fixture
def app(tmp_path: Path, directory: FakeDirectory) -> Flask:
    return make_app(tmp_path, directory=directory)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- GET /api/apps ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "slugs"),
    [
        (None, ["public"]),
        ("bob", ["hello", "public", "sales"]),
        ("dave", ["hello", "public"]),
        ("erin", ["finance", "hello", "public"]),
        ("admin", ["finance", "hello", "public", "sales"]),
    ],
)
def test_list(client: FlaskClient, who: str | None, slugs: list[str]) -> None:
    answer = client.get("/api/apps", user=who)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    apps = answer.get_json()["apps"]
    assert sorted(a["slug"] for a in apps) == slugs
    assert all(a["url"] == f"/apps/{a['slug']}/" for a in apps)


def test_list_entries_hide_grants(client: FlaskClient) -> None:
    bob = client.get("/api/apps", user="bob").get_json()["apps"]
    [sales] = [a for a in bob if a["slug"] == "sales"]
    assert "viewers" not in sales and "co_owners" not in sales
    assert sales["can_manage"] is False
    alice = client.get("/api/apps", user="alice").get_json()["apps"]
    assert {a["slug"]: a["can_manage"] for a in alice} == {
        "hello": False,
        "public": False,
        "sales": True,
    }


def test_list_with_trailing_slash(client: FlaskClient) -> None:
    assert client.get("/api/apps/").status_code == 200


# --- GET /api/apps/<slug> -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "slug", "status"),
    [
        (None, "sales", 401),
        (None, "public", 401),  # settings are never public
        (None, "nope", 401),
        ("bob", "nope", 404),
        ("bob", "sales", 403),  # may open the app, may not read who else may
        ("dave", "sales", 403),
        ("erin", "sales", 403),
        ("alice", "sales", 200),
        ("admin", "sales", 200),
        ("root", "finance", 200),  # admin without a seat
    ],
)
def test_get_settings(client: FlaskClient, who: str | None, slug: str, status: int) -> None:
    answer = client.get(f"/api/apps/{slug}", user=who)
    assert answer.status_code == status
    body = answer.get_json()
    if status != 200:
        assert body["status"] == status and body["error"]
        return
    assert body["slug"] == slug
    assert {"title", "description", "tags", "owner", "access", "visible_in_portal"} <= set(body)
    assert set(body["viewers"]) == set(body["co_owners"]) == {"users", "groups"}
    assert body["url"] == f"/apps/{slug}/"


def test_get_settings_shape(client: FlaskClient) -> None:
    body = client.get("/api/apps/sales", user="alice").get_json()
    assert body["owner"] == "alice"
    assert body["access"] == "restricted"
    assert body["viewers"] == {"users": [], "groups": ["/sales"]}
    assert body["co_owners"] == {"users": [], "groups": []}
    assert body["visible_in_portal"] is True


# --- PATCH /api/apps/<slug> ---------------------------------------------------------------


def test_patch_by_owner(client: FlaskClient, app: Flask) -> None:
    answer = client.patch(
        "/api/apps/sales",
        json={"access": "restricted", "viewers": {"users": ["Dave"]}, "title": "Sales Q3"},
        user="alice",
    )
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["title"] == "Sales Q3"
    assert body["viewers"] == {"users": ["dave"], "groups": ["/sales"]}
    # The change is live at once: dave now gets the app in his list.
    dave = client.get("/api/apps", user="dave").get_json()["apps"]
    assert "sales" in [a["slug"] for a in dave]
    with app.app_context():
        [event] = audit.recent(1, target="app:sales")
    assert event["actor"] == "alice"
    assert event["after"]["viewers"]["users"] == ["dave"]


@pytest.mark.parametrize(
    ("who", "slug", "body", "status"),
    [
        (None, "sales", {"title": "x"}, 401),
        ("bob", "sales", {"title": "x"}, 403),
        ("dave", "sales", {"title": "x"}, 403),
        ("erin", "sales", {"title": "x"}, 403),
        ("alice", "nope", {"title": "x"}, 404),
        ("alice", "sales", ["title"], 400),
        ("alice", "sales", "x", 400),
        ("alice", "sales", {"owner": "bob"}, 400),
        ("alice", "sales", {"color": "red"}, 400),
        ("alice", "sales", {"title": ""}, 422),
        ("alice", "sales", {"access": "everyone"}, 422),
        ("alice", "sales", {"visible_in_portal": "no"}, 422),
        ("alice", "sales", {"viewers": {"groups": "/sales"}}, 422),
        ("alice", "sales", {"co_owners": {"users": ["a b"]}}, 422),
        ("admin", "finance", {"description": "By the admin."}, 200),
    ],
)
def test_patch_statuses(
    client: FlaskClient, who: str | None, slug: str, body: object, status: int
) -> None:
    answer = client.patch(f"/api/apps/{slug}", json=body, user=who)
    assert answer.status_code == status, answer.get_json()
    assert answer.is_json


def test_patch_needs_json(client: FlaskClient) -> None:
    bodies = [
        ("title=x", "application/x-www-form-urlencoded"),
        ("{", "application/json"),
        ("", "application/json"),
    ]
    for data, content_type in bodies:
        answer = client.patch("/api/apps/sales", data=data, content_type=content_type, user="alice")
        assert answer.status_code == 400, data
        assert answer.get_json()["error"]


@pytest.mark.parametrize("depth", [1_100, 100_000])
def test_json_nested_too_deeply_is_a_400(client: FlaskClient, depth: int) -> None:
    """Every JSON endpoint reads its body through portal.api.json_object."""
    deep = "[" * depth + "]" * depth
    for method, path, data in [
        ("PATCH", "/api/apps/sales", deep),
        ("PATCH", "/api/apps/sales", '{"title": ' + deep + "}"),
        ("PUT", "/api/apps/sales/owner", deep),
        ("POST", "/api/apps", deep),
        ("PUT", "/api/apps/sales/env/API_KEY", deep),
    ]:
        answer = client.open(
            path,
            method=method,
            data=data,
            content_type="application/json",
            user="admin",
        )
        assert answer.status_code == 400, (method, path)
        assert answer.get_json()["error"].startswith("The JSON body is nested too deeply.")
    assert client.get("/api/apps/sales", user="alice").get_json()["title"] == "Sales"


def test_patch_half_valid_changes_nothing(client: FlaskClient, app: Flask) -> None:
    before = client.get("/api/apps/sales", user="alice").get_json()
    with app.app_context():
        events = len(audit.recent(1000))
    answer = client.patch(
        "/api/apps/sales",
        json={"title": "A fine new title", "tags": "not-a-list"},
        user="alice",
    )
    assert answer.status_code == 422
    assert answer.get_json()["field"] == "tags"
    assert client.get("/api/apps/sales", user="alice").get_json() == before
    with app.app_context():
        assert len(audit.recent(1000)) == events


def test_patch_refused_by_policy(client: FlaskClient, app: Flask) -> None:
    with app.app_context():
        registry.set_policy(
            allowed_access_levels=["authenticated", "restricted"], actor=DEMO_USERS["admin"]
        )
    answer = client.patch("/api/apps/sales", json={"access": "unauthenticated"}, user="alice")
    assert answer.status_code == 422
    assert "policy" in answer.get_json()["error"]


# --- PUT /api/apps/<slug>/owner -----------------------------------------------------------


def test_transfer_to_licensed_user(client: FlaskClient, directory: FakeDirectory) -> None:
    answer = client.put("/api/apps/sales/owner", json={"owner": "Erin"}, user="admin")
    assert answer.status_code == 200
    assert answer.get_json()["owner"] == "erin"
    assert directory.asked == ["erin"]
    assert client.get("/api/apps/sales", user="alice").status_code == 403


@pytest.mark.parametrize(
    ("who", "slug", "body", "status"),
    [
        (None, "sales", {"owner": "erin"}, 401),
        ("alice", "sales", {"owner": "erin"}, 403),  # owners do not transfer, admins do
        ("bob", "sales", {"owner": "erin"}, 403),
        ("admin", "nope", {"owner": "erin"}, 404),
        ("admin", "sales", ["erin"], 400),
        ("admin", "sales", {}, 400),
        ("admin", "sales", {"owner": "erin", "keep": True}, 400),
        ("admin", "sales", {"owner": 5}, 422),
        ("admin", "sales", {"owner": "two words"}, 422),
        ("admin", "sales", {"owner": "bob"}, 409),  # bob holds no seat
        ("admin", "sales", {"owner": "nobody"}, 409),  # unknown to the directory
    ],
)
def test_transfer_statuses(
    client: FlaskClient, who: str | None, slug: str, body: object, status: int
) -> None:
    answer = client.put(f"/api/apps/{slug}/owner", json=body, user=who)
    assert answer.status_code == status, answer.get_json()
    if status == 409:
        assert answer.get_json()["reason"] == "not_licensed"
    assert client.get("/api/apps/sales", user="admin").get_json()["owner"] == "alice"


def test_transfer_when_directory_is_down(client: FlaskClient, directory: FakeDirectory) -> None:
    directory.down = True
    answer = client.put("/api/apps/sales/owner", json={"owner": "erin"}, user="admin")
    assert answer.status_code == 503
    assert client.get("/api/apps/sales", user="admin").get_json()["owner"] == "alice"


def test_methods_not_allowed(client: FlaskClient) -> None:
    assert client.put("/api/apps/sales", json={}, user="admin").status_code == 405
    assert client.put("/api/apps", json={}, user="admin").status_code == 405


# --- POST /api/app-events: text an app reports for the audit log --------------------------


def test_app_events_refuse_hidden_characters_and_deep_json(client: FlaskClient, app: Flask) -> None:
    from portal.deploys.app_tokens import app_token

    headers = {"X-Platform-App-Token": app_token(app.config["SECRET_KEY"], "sales")}
    good = {"actor": "bob", "action": "app.export", "target": "sales:rows"}
    assert client.post("/api/app-events", json=good, headers=headers).status_code == 201
    for field in ("actor", "target"):
        forged = {**good, field: good[field][:2] + "\u202e" + good[field][2:]}
        answer = client.post("/api/app-events", json=forged, headers=headers)
        assert answer.status_code == 422
        assert "U+202E RIGHT-TO-LEFT OVERRIDE" in answer.get_json()["error"]
    deep = "[" * 1_100 + "]" * 1_100
    answer = client.post(
        "/api/app-events", data=deep, content_type="application/json", headers=headers
    )
    assert answer.status_code == 400
