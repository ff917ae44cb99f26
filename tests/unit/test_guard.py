"""The guard's decisions for every kind of path under /apps/<slug>/ (identity faked by
the test-only header hook; the integration tests use the real Keycloak)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.callback_body import check_callback_body
from tests.live_stack import HELLO_CALLBACK
from tests.unit.conftest_registry import TEST_USER_HEADER, make_app

GOOD = HELLO_CALLBACK


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return make_app(Path(tmp_path_factory.mktemp("guard")))


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _as(name: str | None) -> dict[str, str]:
    return {TEST_USER_HEADER: name} if name else {}


def _callback(client: FlaskClient, body: object, user: str | None = "dave"):
    return client.post(
        "/apps/hello/_dash-update-component",
        data=json.dumps(body),
        content_type="application/json",
        headers=_as(user),
    )


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
    ],
)
@pytest.mark.parametrize("path", ["_dash-layout", "_dash-dependencies"])
def test_dash_internals(client: FlaskClient, user: str | None, slug: str, status: int, path: str):
    answer = client.get(f"/apps/{slug}/{path}", headers=_as(user))
    assert answer.status_code == status
    if status in (401, 403):
        assert answer.is_json and answer.json["error"]


def test_unknown_app_is_404(client: FlaskClient) -> None:
    assert client.get("/apps/nope/", headers=_as("admin")).status_code == 404
    assert client.get("/apps/nope/_dash-layout").status_code == 404


def test_anonymous_page_is_redirected_to_sign_in(client: FlaskClient) -> None:
    answer = client.get("/apps/sales/?x=1", headers={"Accept": "text/html"})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/login?next=/apps/sales/%3Fx%3D1"


def test_good_callback_answers_with_the_server_side_identity(client: FlaskClient) -> None:
    answer = _callback(client, GOOD)
    assert answer.status_code == 200
    assert "dave" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        "x",
        None,
        {**GOOD, "output": "nope.children"},
        {**GOOD, "inputs": "x"},
        {**GOOD, "inputs": [1]},
        {**GOOD, "outputs": [1, 2]},
        {**GOOD, "state": {"id": "x"}},
        {**GOOD, "changedPropIds": [1]},
        {**GOOD, "changedPropIds": "whoami-button.n_clicks"},
        {**GOOD, "inputs": [[{"id": {"type": "x"}, "property": "value"}, 1]]},  # a bad group
        {k: v for k, v in GOOD.items() if k != "inputs"},
        {**GOOD, "state": [{"id": "user", "property": "data", "value": "admin"}]},
    ],
)
def test_malformed_callbacks_get_400_not_500(client: FlaskClient, body: object) -> None:
    answer = _callback(client, body)
    assert answer.status_code == 400
    assert answer.json["error"].startswith("Malformed callback request")


def test_pattern_matching_groups_pass_the_shape_check() -> None:
    group = [{"id": {"type": "row", "index": i}, "property": "value", "value": i} for i in (1, 2)]
    body = {**GOOD, "inputs": [group, *GOOD["inputs"]], "state": [[]]}
    check_callback_body(body, {GOOD["output"]: {}})  # ALL / ALLSMALLER arrive as lists


def test_credentials_header_is_stripped_from_incoming_requests(client: FlaskClient) -> None:
    spoof = json.dumps({"user": "admin", "groups": ["/finance"]})
    answer = client.post(
        "/apps/hello/_dash-update-component",
        data=json.dumps(GOOD),
        content_type="application/json",
        headers={**_as("dave"), "RStudio-Connect-Credentials": spoof},
    )
    assert "dave" in answer.get_data(as_text=True)
