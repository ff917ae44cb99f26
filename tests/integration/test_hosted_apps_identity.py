"""Who a hosted app sees, and who may reach it at all.

dea-identity uses dash-enterprise-auth unmodified (it reads ``Plotly-User-Data`` when
``DASH_JWKS_URL`` is unset); connect-identity parses ``RStudio-Connect-Credentials`` as a
Posit Connect app does. The front door sets both for the signed-in visitor and drops any
copy a client sent. global-callback stays Restricted to its owner for the refusal checks.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import requests

from tests.hosting_client import callback_body, component, deploy_app, outputs_of, set_access, texts
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

FORGED_PLOTLY = json.dumps(
    {"username": "admin", "email": "admin@example.org", "groups": ["/finance"], "roles": ["admin"]}
)
FORGED_CONNECT = json.dumps({"user": "admin", "groups": ["/finance"]})


@pytest.fixture(scope="module")
def alice(portal_url: str) -> requests.Session:
    return login(portal_url, "alice")


@pytest.fixture(scope="module")
def dea_identity(alice: requests.Session, portal_url: str) -> str:
    deploy_app(alice, portal_url, "dea-identity", "dea-identity")
    return f"{portal_url}/apps/dea-identity"


@pytest.fixture(scope="module")
def connect_identity(alice: requests.Session, portal_url: str) -> str:
    deploy_app(alice, portal_url, "connect-identity", "connect-identity")
    set_access(alice, portal_url, "connect-identity", "authenticated")
    return f"{portal_url}/apps/connect-identity"


@pytest.fixture(scope="module")
def restricted(alice: requests.Session, portal_url: str) -> str:
    """A Restricted app (the default for a new app) that only its owner may open."""
    deploy_app(alice, portal_url, "restricted-gc", "global-callback")
    settings = alice.get(f"{portal_url}/api/apps/restricted-gc", timeout=30).json()
    assert settings["access"] == "restricted", settings
    return f"{portal_url}/apps/restricted-gc"


def _eventually_status(session: requests.Session, url: str, status: int) -> requests.Response:
    """The front door caches decisions for at most a second: allow a few for a change."""
    deadline = time.monotonic() + 5
    while True:
        answer = session.get(url, timeout=30)
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


def _dea_layout(session: requests.Session, url: str, **headers: str) -> tuple[str, dict[str, Any]]:
    answer = session.get(f"{url}/_dash-layout", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.status_code
    layout = answer.json()
    data = json.loads(component(layout, "dea-user-data")["children"])
    return component(layout, "dea-username")["children"], data


def _dea_callback(session: requests.Session, url: str, **headers: str) -> dict[str, Any]:
    body = callback_body("dea-callback-user", "children", [("dea-ask", "n_clicks", 1)])
    answer = session.post(f"{url}/_dash-update-component", json=body, headers=headers, timeout=30)
    return json.loads(outputs_of(answer)["dea-callback-user"]["children"])


def test_dash_enterprise_auth_sees_the_signed_in_user(
    alice: requests.Session, dea_identity: str
) -> None:
    username, data = _dea_layout(alice, dea_identity)
    assert username == "Signed in as alice"
    assert {"username", "email", "groups", "roles"} <= set(data), data
    assert data["username"] == "alice"
    assert "/sales/east" in data["groups"]
    assert "licensed_user" in data["roles"]
    seen = _dea_callback(alice, dea_identity)
    assert seen["username"] == "alice"
    assert "/sales/east" in seen["groups"]


def test_forged_plotly_user_data_is_ignored(alice: requests.Session, dea_identity: str) -> None:
    username, data = _dea_layout(alice, dea_identity, **{"Plotly-User-Data": FORGED_PLOTLY})
    assert username == "Signed in as alice"
    assert "admin" not in data["roles"]
    seen = _dea_callback(alice, dea_identity, **{"Plotly-User-Data": FORGED_PLOTLY})
    assert seen["username"] == "alice"
    assert "/finance" not in seen["groups"]


def test_granted_viewer_sees_themself(
    alice: requests.Session, portal_url: str, dea_identity: str
) -> None:
    bob = login(portal_url, "bob")
    refused = bob.get(f"{dea_identity}/_dash-layout", timeout=30)
    assert refused.status_code == 403, refused.status_code
    set_access(
        alice, portal_url, "dea-identity", "restricted", viewers={"users": ["bob"], "groups": []}
    )
    assert _eventually_status(bob, f"{dea_identity}/_dash-layout", 200).status_code == 200
    username, data = _dea_layout(bob, dea_identity)
    assert username == "Signed in as bob"
    assert data["username"] == "bob"
    assert "licensed_user" not in data["roles"]
    seen = _dea_callback(bob, dea_identity, **{"Plotly-User-Data": FORGED_PLOTLY})
    assert seen["username"] == "bob"
    # alice's view did not change on bob's account (no identity cached across visitors).
    assert _dea_layout(alice, dea_identity)[0] == "Signed in as alice"


def _connect_view(session: requests.Session, url: str, **headers: str) -> tuple[str, list[str]]:
    answer = session.get(f"{url}/_dash-layout", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.status_code
    layout = answer.json()
    return component(layout, "ci-user")["children"], texts(component(layout, "ci-groups"))


def _connect_callback(session: requests.Session, url: str, **headers: str) -> dict[str, Any]:
    body = callback_body("ci-callback", "children", [("ci-ask", "n_clicks", 1)])
    answer = session.post(f"{url}/_dash-update-component", json=body, headers=headers, timeout=30)
    return json.loads(outputs_of(answer)["ci-callback"]["children"])


@pytest.mark.parametrize(
    ("username", "groups"), [("alice", ["/sales/east"]), ("erin", ["/finance"])]
)
def test_connect_credentials_name_the_user_and_groups(
    portal_url: str, connect_identity: str, username: str, groups: list[str]
) -> None:
    session = login(portal_url, username)
    forged = {"RStudio-Connect-Credentials": FORGED_CONNECT}
    for headers in ({}, forged):
        assert _connect_view(session, connect_identity, **headers) == (f"Hello {username}", groups)
        assert _connect_callback(session, connect_identity, **headers) == {
            "user": username,
            "groups": groups,
            "clicks": 1,
        }


def _guarded_paths(alice: requests.Session, url: str) -> list[tuple[str, str]]:
    """(method, url) of every kind of path an app serves, the real ones read from its page."""
    page = alice.get(f"{url}/", timeout=30)
    assert page.status_code == 200, page.status_code
    suites = re.findall(r'src="(/apps/[^"]+/_dash-component-suites/[^"]+)"', page.text)
    assert suites, "the page loads no component suite from under the app's prefix"
    base = url.split("/apps/")[0]
    asset = alice.get(f"{url}/assets/style.css", timeout=30)
    assert asset.status_code == 200 and "gc-asset-marker" in asset.text
    assert alice.get(base + suites[0], timeout=30).status_code == 200
    return [
        ("GET", f"{url}/"),
        ("GET", f"{url}/_dash-layout"),
        ("GET", f"{url}/_dash-dependencies"),
        ("GET", f"{url}/assets/style.css"),
        ("GET", base + suites[0]),
        ("POST", f"{url}/_dash-update-component"),
    ]


def _request(session: requests.Session, method: str, url: str) -> requests.Response:
    body = callback_body("gc-greeting", "children", [("gc-name", "value", "Ada")])
    return session.request(
        method,
        url,
        json=body if method == "POST" else None,
        allow_redirects=False,
        timeout=30,
    )


def test_anonymous_and_ungranted_visitors_reach_nothing(
    alice: requests.Session, portal_url: str, restricted: str
) -> None:
    paths = _guarded_paths(alice, restricted)
    dave = login(portal_url, "dave")
    for method, url in paths:
        anonymous = _request(requests.Session(), method, url)
        assert anonymous.status_code in (302, 303, 307, 401), (method, url, anonymous.status_code)
        if anonymous.status_code != 401:
            assert "/login" in anonymous.headers["Location"], anonymous.headers
        refused = _request(dave, method, url)
        assert refused.status_code == 403, (method, url, refused.status_code)
        for answer in (anonymous, refused):
            assert "gc-asset-marker" not in answer.text and "Hello, Ada" not in answer.text
    assert _request(alice, "POST", f"{restricted}/_dash-update-component").status_code == 200
