"""Scale to zero: an idle app stops, and the next request starts it again."""

from __future__ import annotations

import time

import pytest

from tests.hosting_client import APPS, callback_body, create_app, csrf_headers, deploy
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

SLUG = "sleepy"


def test_an_idle_app_stops_and_the_next_request_wakes_it(portal_url: str) -> None:
    alice = login(portal_url, "alice")
    create_app(alice, portal_url, SLUG, "Sleepy")
    first = deploy(alice, portal_url, SLUG, APPS / "global-callback")
    api = f"{portal_url}/api/apps/{SLUG}"
    patch = alice.patch(api, json={"idle_timeout_s": 10}, headers=csrf_headers(alice, portal_url))
    assert patch.status_code == 200
    assert alice.post(f"{api}/restart", headers=csrf_headers(alice, portal_url)).status_code == 202

    deadline = time.monotonic() + 60
    while (state := alice.get(f"{api}/deployments/{first['id']}").json()["process"]["state"]) != (
        "STOPPED"
    ):
        assert time.monotonic() < deadline, f"still {state} 60 s after its last request"
        time.sleep(1)

    page = alice.get(
        f"{portal_url}/apps/{SLUG}/", headers={"Accept": "text/html"}, allow_redirects=False
    )
    assert page.status_code in (307, 503), page.status_code
    if page.status_code == 503:
        assert "Starting" in page.text and page.headers["Retry-After"] == "1"
    # A callback waits for the app and is sent again (307 keeps the method and the body).
    body = callback_body("gc-square", "children", [("gc-number", "value", 7)])
    answer = alice.post(f"{portal_url}/apps/{SLUG}/_dash-update-component", json=body, timeout=60)
    assert answer.status_code == 200, answer.text[:300]
    assert "7 squared is 49" in answer.text
    assert alice.get(f"{portal_url}/apps/{SLUG}/_dash-layout").status_code == 200
    running = alice.get(f"{api}/deployments/{first['id']}").json()["process"]["state"]
    assert running in ("STARTING", "RUNNING")
