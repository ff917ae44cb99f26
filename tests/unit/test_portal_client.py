"""The unit tests' sign-in (tests.unit.portal_client) goes through the portal's own sessions.

Who is asking comes from a session stored by ``begin_session`` and read back by the real
``authenticate_request``: no header makes anyone signed in, and writes need the session's
CSRF token as they do for a browser.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from portal.auth.session_store import SESSION_COOKIE_NAME
from tests.unit.conftest_registry import make_app
from tests.unit.demo import DEMO_USERS
from tests.unit.portal_client import PortalClient


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return make_app(Path(tmp_path_factory.mktemp("client")))


def test_a_named_user_is_signed_in_through_a_stored_session(app: Flask) -> None:
    client = app.test_client()
    assert isinstance(client, PortalClient)
    me = client.get("/api/me", user="carol").get_json()
    assert (me["username"], me["auth"]) == ("carol", "session")
    assert set(me["groups"]) == set(DEMO_USERS["carol"].groups)
    assert me["csrf_token"] == client.signed_in("carol").csrf_token


def test_the_session_rides_on_that_request_alone(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/me", user="bob").status_code == 200
    assert client.get_cookie(SESSION_COOKIE_NAME) is None
    assert client.get("/api/me").status_code == 401


def test_no_header_signs_anyone_in(app: Flask) -> None:
    client = app.test_client()
    for header in ("X-Test-User", "X-Forwarded-User", "Plotly-User-Data", "X-Platform-User"):
        assert client.get("/api/me", headers={header: "admin"}).status_code == 401, header


def test_writes_carry_the_sessions_csrf_token(app: Flask) -> None:
    client = app.test_client()
    body = {"title": "Sales"}
    assert client.patch("/api/apps/sales", json=body, user="alice").status_code == 200
    # The same session without its token is refused, as a cross-site form would be.
    client.set_cookie(SESSION_COOKIE_NAME, client.signed_in("alice").cookie)
    refused = client.patch("/api/apps/sales", json=body)
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["error"]
