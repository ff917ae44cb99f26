"""The guard in front of mounted Dash apps, with identities from the real Keycloak."""

from __future__ import annotations

import json

import pytest
import requests

from tests.live_stack import HELLO_CALLBACK
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

DASH_ENDPOINTS = ["_dash-layout", "_dash-dependencies"]


@pytest.fixture(scope="module")
def bob(portal_url: str) -> requests.Session:
    return login(portal_url, "bob")


@pytest.fixture(scope="module")
def dave(portal_url: str) -> requests.Session:
    return login(portal_url, "dave")


@pytest.mark.parametrize("app", ["sales", "hello", "finance"])
@pytest.mark.parametrize("endpoint", DASH_ENDPOINTS)
def test_anonymous_dash_internals_get_401_json(portal_url: str, app: str, endpoint: str) -> None:
    answer = requests.get(f"{portal_url}/apps/{app}/{endpoint}", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["Content-Type"].startswith("application/json")


def test_anonymous_callback_gets_401_json(portal_url: str) -> None:
    answer = requests.post(
        f"{portal_url}/apps/hello/_dash-update-component", json=HELLO_CALLBACK, timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["error"]


def test_anonymous_callback_claiming_to_be_a_pathname_is_still_refused(portal_url: str) -> None:
    # dash-auth lets such a request through when an input looks like a public pathname.
    body = {
        "output": "page-content.children",
        "outputs": {"id": "page-content", "property": "children"},
        "inputs": [{"id": "url", "property": "pathname", "value": "/apps/public/"}],
        "changedPropIds": ["url.pathname"],
    }
    for app in ("sales", "hello", "finance"):
        answer = requests.post(
            f"{portal_url}/apps/{app}/_dash-update-component", json=body, timeout=10
        )
        assert answer.status_code == 401


def test_anonymous_page_redirects_to_login(portal_url: str) -> None:
    answer = requests.get(
        f"{portal_url}/apps/sales/", headers={"Accept": "text/html"}, allow_redirects=False
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/login?next=/apps/sales/")


def test_anonymous_assets_and_component_suites_are_refused(portal_url: str) -> None:
    for path in ("assets/style.css", "_dash-component-suites/dash/dash-renderer/build/x.js"):
        answer = requests.get(f"{portal_url}/apps/sales/{path}", allow_redirects=False)
        assert answer.status_code in (302, 401)


def test_public_app_is_open_to_anonymous(portal_url: str) -> None:
    assert requests.get(f"{portal_url}/apps/public/", timeout=10).status_code == 200
    assert requests.get(f"{portal_url}/apps/public/_dash-layout", timeout=10).status_code == 200


def test_unknown_app_is_404(portal_url: str, bob: requests.Session) -> None:
    answer = bob.get(f"{portal_url}/apps/nope/_dash-layout", timeout=10)
    assert answer.status_code == 404


def test_signed_in_user_opens_an_authenticated_app(portal_url: str, dave: requests.Session) -> None:
    assert dave.get(f"{portal_url}/apps/hello/_dash-layout", timeout=10).status_code == 200
    answer = dave.post(
        f"{portal_url}/apps/hello/_dash-update-component", json=HELLO_CALLBACK, timeout=10
    )
    assert answer.status_code == 200
    assert "dave" in answer.text


def test_callback_identity_comes_from_the_session_not_the_body(
    portal_url: str, dave: requests.Session
) -> None:
    answer = dave.post(
        f"{portal_url}/apps/hello/_dash-update-component",
        json=HELLO_CALLBACK,
        headers={"RStudio-Connect-Credentials": json.dumps({"user": "admin", "groups": []})},
        timeout=10,
    )
    assert "dave" in answer.text and "admin" not in answer.text
    # Extra inputs claiming another identity are not part of the callback: refused.
    forged = {**HELLO_CALLBACK, "state": [{"id": "user", "property": "data", "value": "admin"}]}
    refused = dave.post(f"{portal_url}/apps/hello/_dash-update-component", json=forged)
    assert refused.status_code == 400


def test_restricted_app_is_403_for_a_user_without_a_grant(
    portal_url: str, dave: requests.Session, bob: requests.Session
) -> None:
    for app in ("sales", "finance"):
        for path in ("", "_dash-layout", "_dash-dependencies"):
            assert dave.get(f"{portal_url}/apps/{app}/{path}", timeout=10).status_code == 403
    assert bob.get(f"{portal_url}/apps/finance/_dash-layout", timeout=10).status_code == 403
    assert bob.get(f"{portal_url}/apps/sales/_dash-layout", timeout=10).status_code == 200


def test_export_is_guarded(portal_url: str, dave: requests.Session) -> None:
    anonymous = requests.get(f"{portal_url}/apps/sales/export.csv", allow_redirects=False)
    assert anonymous.status_code in (302, 401)
    assert "date,region" not in anonymous.text
    assert dave.get(f"{portal_url}/apps/sales/export.csv", timeout=10).status_code == 403


def test_callback_must_be_json(portal_url: str, bob: requests.Session) -> None:
    answer = bob.post(
        f"{portal_url}/apps/hello/_dash-update-component",
        data=json.dumps(HELLO_CALLBACK),
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert answer.status_code == 415
