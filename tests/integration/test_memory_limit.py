"""An app past its memory limit is restarted, says so, and its neighbours keep answering."""

from __future__ import annotations

import time

import pytest

from portal.hosting.memlimit import own_cgroup
from tests.hosting_client import APPS, callback_body, create_app, csrf_headers, deploy
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

SLUG = "memory-hog"


def test_an_app_over_its_limit_is_restarted_and_says_why(portal_url: str) -> None:
    alice, admin = login(portal_url, "alice"), login(portal_url, "admin")
    create_app(alice, portal_url, SLUG, "Memory hog")
    deploy(alice, portal_url, SLUG, APPS / "memory-hog")
    api = f"{portal_url}/api/apps/{SLUG}"
    limit_200 = {"memory_limit_mb": 200}
    refused = alice.patch(api, json=limit_200, headers=csrf_headers(alice, portal_url))
    assert refused.status_code == 403  # seed 002: only an admin sets the memory limit
    limit = admin.patch(api, json=limit_200, headers=csrf_headers(admin, portal_url))
    assert limit.status_code == 200 and limit.json()["memory_limit_mb"] == 200
    assert alice.post(f"{api}/restart", headers=csrf_headers(alice, portal_url)).status_code == 202

    url = f"{portal_url}/apps/{SLUG}/_dash-update-component"
    deadline = time.monotonic() + 60
    while alice.get(f"{portal_url}/apps/{SLUG}/_dash-layout", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "not back after the restart"
        time.sleep(0.5)
    small = alice.post(
        url, json=callback_body("mh-held", "children", [("mh-megabytes", "value", 20)])
    )
    assert small.status_code == 200 and "holding 20 MB" in small.text

    alice.post(url, json=callback_body("mh-held", "children", [("mh-megabytes", "value", 400)]))
    deployments = alice.get(f"{api}/deployments", timeout=10).json()["deployments"]
    active = next(d for d in deployments if d["status"] == "active")
    deadline = time.monotonic() + 30
    while not (process := alice.get(f"{api}/deployments/{active['id']}").json()["process"]).get(
        "out_of_memory"
    ):
        assert time.monotonic() < deadline, f"not restarted for its memory: {process}"
        assert alice.get(f"{portal_url}/apps/hello/_dash-layout", timeout=10).status_code == 200
        time.sleep(0.5)
    event = process["out_of_memory"]
    assert event["limit"] == 200 * 1024 * 1024
    if own_cgroup() is not None:  # the kernel stopped it: it never held more than its limit
        assert event["by"] == "kernel" and event["oom_kills"] >= 1
        assert event["rss"] <= event["limit"]
    else:  # the watchdog stopped it, once it held more
        assert event["by"] == "watchdog" and event["rss"] > event["limit"]
    deadline = time.monotonic() + 60
    while True:  # restarted: it answers again, holding nothing
        answer = alice.post(
            url, json=callback_body("mh-held", "children", [("mh-megabytes", "value", 0)])
        )
        if answer.status_code == 200 and "holding 0 MB" in answer.text:
            break
        assert time.monotonic() < deadline, "not answering after its restart"
        time.sleep(0.5)
    page = alice.get(f"{portal_url}/manager/apps/{SLUG}", timeout=10).text
    assert "out of memory" in page
