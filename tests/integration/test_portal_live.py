"""Each demo user's portal and app list, signed in through the real Keycloak."""

from __future__ import annotations

import re

import pytest
import requests

from tests.oidc_flow import login

pytestmark = pytest.mark.integration

#: The contract's apps each demo user may open (a grant to /sales covers its subgroups).
EXPECTED = {
    "admin": {"sales", "hello", "public", "finance"},
    "alice": {"sales", "hello", "public"},
    "bob": {"sales", "hello", "public"},
    "carol": {"sales", "hello", "public"},
    "dave": {"hello", "public"},
    "erin": {"finance", "hello", "public"},
    "frank": {"sales", "hello", "public"},
}


def _app_links(page: str) -> set[str]:
    return set(re.findall(r'href="/apps/([a-z0-9-]+)/"', page))


def test_anonymous_portal_lists_only_unauthenticated_apps(portal_url: str) -> None:
    listing = requests.get(f"{portal_url}/api/apps", timeout=10).json()
    assert {app["slug"] for app in listing["apps"]} == {"public"}
    page = requests.get(f"{portal_url}/", timeout=10).text
    assert _app_links(page) == {"public"}
    assert "/login" in page


@pytest.mark.parametrize(("username", "expected"), sorted(EXPECTED.items()))
def test_each_demo_users_portal(portal_url: str, username: str, expected: set[str]) -> None:
    session = login(portal_url, username, next_path="/")
    listing = session.get(f"{portal_url}/api/apps", timeout=10).json()
    assert {app["slug"] for app in listing["apps"]} == expected
    assert _app_links(session.get(f"{portal_url}/", timeout=10).text) == expected
    for slug in {"sales", "hello", "public", "finance"}:
        status = session.get(f"{portal_url}/apps/{slug}/_dash-layout", timeout=10).status_code
        assert status == (200 if slug in expected else 403), slug
