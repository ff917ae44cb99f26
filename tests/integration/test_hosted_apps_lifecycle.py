"""Deploying over a running app: a new version takes over, a broken one changes nothing."""

from __future__ import annotations

import pytest
import requests

from tests.hosting_client import APPS, callback_body, component, create_app, deploy, outputs_of
from tests.oidc_flow import login

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def alice(portal_url: str) -> requests.Session:
    return login(portal_url, "alice")


def _layout_ids(session: requests.Session, url: str) -> str:
    answer = session.get(f"{url}/_dash-layout", timeout=30)
    assert answer.status_code == 200, f"{url}: {answer.status_code}"
    return answer.text


def _status(session: requests.Session, base: str, slug: str, deployment_id: object) -> str:
    answer = session.get(f"{base}/api/apps/{slug}/deployments/{deployment_id}", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["status"]


def test_second_deploy_serves_the_new_version(alice: requests.Session, portal_url: str) -> None:
    slug, url = "redeploy-me", f"{portal_url}/apps/redeploy-me"
    create_app(alice, portal_url, slug, "Redeployed")
    first = deploy(alice, portal_url, slug, APPS / "pattern-matching")
    assert "pm-add" in _layout_ids(alice, url)
    second = deploy(alice, portal_url, slug, APPS / "global-callback")
    assert second["id"] != first["id"]
    layout = _layout_ids(alice, url)
    assert "gc-title" in layout and "pm-add" not in layout
    outputs = {d["output"] for d in alice.get(f"{url}/_dash-dependencies", timeout=30).json()}
    assert outputs == {"gc-greeting.children", "gc-square.children"}
    body = callback_body("gc-square", "children", [("gc-number", "value", 5)])
    answer = alice.post(f"{url}/_dash-update-component", json=body, timeout=30)
    assert outputs_of(answer) == {"gc-square": {"children": "5 squared is 25"}}
    assert _status(alice, portal_url, slug, first["id"]) == "inactive"
    assert _status(alice, portal_url, slug, second["id"]) == "active"
    listing = alice.get(f"{portal_url}/api/apps/{slug}/deployments", timeout=30)
    assert listing.status_code == 200, listing.text
    body_json = listing.json()
    entries = body_json["deployments"] if isinstance(body_json, dict) else body_json
    assert [entry["id"] for entry in entries][:2] == [second["id"], first["id"]]


def test_broken_import_fails_and_the_previous_version_keeps_serving(
    alice: requests.Session, portal_url: str
) -> None:
    slug, url = "broken-later", f"{portal_url}/apps/broken-later"
    create_app(alice, portal_url, slug, "Broken later")
    good = deploy(alice, portal_url, slug, APPS / "global-callback")
    bystander = f"{portal_url}/apps/bystander"
    create_app(alice, portal_url, "bystander", "Bystander")
    deploy(alice, portal_url, "bystander", APPS / "pattern-matching")

    broken = deploy(alice, portal_url, slug, APPS / "broken-import", expect="failed")
    log = alice.get(f"{portal_url}/api/apps/{slug}/deployments/{broken['id']}/log", timeout=30)
    assert log.status_code == 200
    said = f"{broken.get('error') or ''}\n{log.text}"
    assert "module_that_does_not_exist" in said, said[-3000:]

    assert _status(alice, portal_url, slug, good["id"]) == "active"
    assert _status(alice, portal_url, slug, broken["id"]) == "failed"
    layout = alice.get(f"{url}/_dash-layout", timeout=30)
    assert layout.status_code == 200
    assert component(layout.json(), "gc-title")["children"] == "Global callback app"
    body = callback_body("gc-greeting", "children", [("gc-name", "value", "still here")])
    answer = alice.post(f"{url}/_dash-update-component", json=body, timeout=30)
    assert outputs_of(answer)["gc-greeting"]["children"] == "Hello, still here! (global-callback)"
    assert "pm-add" in _layout_ids(alice, bystander)


def test_a_version_whose_layout_fails_is_not_switched_to(
    alice: requests.Session, portal_url: str
) -> None:
    """The health check asks for the layout: answering at all is not enough."""
    slug, url = "layout-later", f"{portal_url}/apps/layout-later"
    create_app(alice, portal_url, slug, "Layout later")
    good = deploy(alice, portal_url, slug, APPS / "global-callback")
    broken = deploy(alice, portal_url, slug, APPS / "broken-layout", expect="failed")
    error = broken.get("error") or ""
    assert "_dash-layout answered 'HTTP/1" in error and " 500 " in error, broken
    assert _status(alice, portal_url, slug, good["id"]) == "active"
    layout = alice.get(f"{url}/_dash-layout", timeout=30)
    assert component(layout.json(), "gc-title")["children"] == "Global callback app"
