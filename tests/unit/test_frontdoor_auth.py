"""The front door's decisions (``/_frontdoor/auth``) and the refusals the portal renders.

Users sign in through real sessions (tests.unit.portal_client); the integration tests
ask the same questions through nginx with identities from the real Keycloak.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.frontdoor_auth import decide
from roles import AccessLevel
from tests.unit.conftest_registry import app_record, make_app
from tests.unit.demo import DEMO_USERS


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return make_app(Path(tmp_path_factory.mktemp("frontdoor")))


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _ask(client: FlaskClient, user: str | None, uri: str, method: str = "GET", **headers: str):
    sent = {"X-Original-URI": uri, "X-Original-Method": method, **headers}
    return client.get("/_frontdoor/auth", headers=sent, user=user)


@pytest.mark.parametrize(
    ("user", "slug", "status"),
    [
        (None, "public", 200),
        (None, "hello", 401),
        (None, "sales", 401),
        ("dave", "hello", 200),
        ("dave", "sales", 403),
        ("dave", "finance", 403),
        ("bob", "sales", 200),
        ("carol", "sales", 200),
        ("bob", "finance", 403),
        ("erin", "finance", 200),
        ("admin", "finance", 200),
        ("admin", "sales", 200),
        ("admin", "nope", 403),  # unknown: refused here, rendered 404 by the portal
    ],
)
@pytest.mark.parametrize("rest", ["", "_dash-layout", "_dash-dependencies", "assets/x.css"])
def test_every_path_is_decided(client: FlaskClient, user, slug, status, rest) -> None:
    assert _ask(client, user, f"/apps/{slug}/{rest}").status_code == status


def test_allowed_answer_carries_the_identity_for_the_app(client: FlaskClient) -> None:
    answer = _ask(client, "carol", "/apps/sales/_dash-layout")
    data = json.loads(answer.headers["X-Platform-User-Data"])
    assert data["username"] == "carol"
    assert data["groups"] == ["/sales/east/managers"]
    assert data["roles"] == ["viewer"]
    credentials = json.loads(answer.headers["X-Platform-Credentials"])
    assert credentials == {"user": "carol", "groups": ["/sales/east/managers"]}


def test_anonymous_visitor_of_a_public_app_gets_no_identity(client: FlaskClient) -> None:
    answer = _ask(client, None, "/apps/public/")
    assert answer.status_code == 200
    assert "X-Platform-User-Data" not in answer.headers
    assert "X-Platform-Credentials" not in answer.headers


def test_the_query_string_does_not_change_the_app(client: FlaskClient) -> None:
    assert _ask(client, "dave", "/apps/sales/?x=/apps/hello/").status_code == 403


def test_page_load_is_counted(app: Flask, client: FlaskClient) -> None:
    from portal import registry

    with app.app_context():
        before = sum(n for _, n, _ in registry.views_per_day("hello", days=1))
    assert _ask(client, "dave", "/apps/hello/", **{"X-Page-Load": "1"}).status_code == 200
    assert _ask(client, "dave", "/apps/hello/_dash-layout").status_code == 200
    with app.app_context():
        after = sum(n for _, n, _ in registry.views_per_day("hello", days=1))
    assert after == before + 1


@pytest.mark.parametrize(
    ("method", "path", "content_type", "csrf", "status"),
    [
        ("POST", "/apps/hello/_dash-update-component", "application/json", None, 200),
        ("POST", "/apps/hello/_dash-update-component", "text/plain", None, 415),
        ("POST", "/apps/hello/upload", "multipart/form-data", None, 400),
        ("POST", "/apps/hello/upload", "multipart/form-data", "wrong", 400),
        ("POST", "/apps/hello/upload", "multipart/form-data", "right", 200),
        ("GET", "/apps/hello/upload", "", None, 200),
    ],
)
def test_writes_on_the_session_need_their_proof(method, path, content_type, csrf, status) -> None:
    app = _hello_app()
    decision = decide(
        DEMO_USERS["dave"],
        app,
        slug="hello",
        method=method,
        path=path,
        content_type=content_type,
        csrf_sent=csrf,
        csrf_expected="right",
    )
    assert decision.status == status


def _hello_app():
    return app_record("hello", owner="admin", access=AccessLevel.AUTHENTICATED)


# --- what the portal renders when the front door hands it a refused request -------------


def test_refused_dash_request_is_401_json(client: FlaskClient) -> None:
    answer = client.post("/apps/hello/_dash-update-component", json={})
    assert answer.status_code == 401
    assert answer.json["error"]


def test_refused_page_redirects_to_login(client: FlaskClient) -> None:
    answer = client.get("/apps/sales/?tab=2", headers={"Accept": "text/html"})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=/apps/sales/%3Ftab%3D2"


def test_refused_signed_in_is_403(client: FlaskClient) -> None:
    answer = client.get("/apps/sales/_dash-layout", user="dave")
    assert answer.status_code == 403


def test_unknown_app_is_404(client: FlaskClient) -> None:
    answer = client.get("/apps/nope/_dash-layout", user="dave")
    assert answer.status_code == 404


def test_allowed_but_not_answering_is_503(client: FlaskClient) -> None:
    answer = client.get("/apps/hello/_dash-layout", user="dave")
    assert answer.status_code == 503
    assert "not running" in answer.json["error"]


@pytest.mark.parametrize("sent", ["177", "0, 177"])
def test_a_request_the_app_died_answering_is_not_sent_again(client: FlaskClient, sent) -> None:
    """No 307 back to the app: a callback that crashes it would crash it again and again."""
    answer = client.post(
        "/apps/hello/_dash-update-component",
        json={},
        headers={"X-Frontdoor-Upstream-Sent": sent},
        user="dave",
    )
    assert answer.status_code == 502
    assert "stopped while answering" in answer.json["error"]


def test_slug_without_slash_is_redirected_only_when_it_is_a_slug(client: FlaskClient) -> None:
    assert client.get("/apps/hello").headers["Location"] == "/apps/hello/"
    assert client.get("/apps/Hello%0d%0aX:1").status_code == 404
