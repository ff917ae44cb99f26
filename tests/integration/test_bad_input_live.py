"""Bad input through the real front door gets a clear answer (issue 12's findings 4, 5, 7, 10, 11).

Anonymous visitors of the built-in public app (its own processes behind nginx, served by
``dash_appkit.serve``) sending JSON nested past Python's recursion limit or asking for
files the app does not serve; alice's form posts and searches against the real Keycloak;
a forged Host header on /login; grants naming people Keycloak does not know.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.hosting_client import csrf_headers
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

DEEP = "[" * 1_100 + "]" * 1_100
TOO_DEEP = "Malformed callback request: The JSON body is nested too deeply."


@pytest.fixture(scope="module")
def alice(portal_url: str) -> requests.Session:
    return login(portal_url, "alice")


def _curve_call(value: str) -> str:
    """The public app's callback (slider -> figure) with ``value`` as raw JSON."""
    return (
        '{"output": "curve.figure", "outputs": {"id": "curve", "property": "figure"}, '
        f'"inputs": [{{"id": "growth", "property": "value", "value": {value}}}], '
        '"changedPropIds": ["growth.value"], "state": []}'
    )


def _post_json(url: str, body: str, session: requests.Session | None = None) -> requests.Response:
    return (session or requests).post(
        url, data=body, headers={"Content-Type": "application/json"}, timeout=60
    )


def test_deeply_nested_callback_json_is_a_400_for_anonymous_visitors(portal_url: str) -> None:
    url = f"{portal_url}/apps/public/_dash-update-component"
    good = _post_json(url, _curve_call("4"))
    assert good.status_code == 200, good.text[:300]
    assert "figure" in good.json()["response"]["curve"]
    for body in (DEEP, _curve_call(DEEP)):
        answer = _post_json(url, body)
        assert answer.status_code == 400, answer.text[:300]
        assert answer.json()["error"] == TOO_DEEP
    assert _post_json(url, _curve_call("4")).status_code == 200  # the app is still fine


def test_a_file_the_public_app_does_not_serve_is_a_404(portal_url: str) -> None:
    base = f"{portal_url}/apps/public/_dash-component-suites"
    page = requests.get(f"{portal_url}/apps/public/", timeout=30).text
    served = re.search(r'/apps/public/_dash-component-suites/([^"]+\.js)', page)
    assert served, "the page names the scripts it loads"
    assert requests.get(f"{base}/{served.group(1)}", timeout=30).status_code == 200
    for path in ("dash/nope.js", "nope/x.js", "dash/dash-renderer/build/nope.v1_0_0m1.min.js"):
        answer = requests.get(f"{base}/{path}", timeout=30)
        assert answer.status_code == 404, (path, answer.text[:300])
        assert answer.json()["error"] == f"No file {path} in this app."
        assert "Registered" not in answer.text  # Dash's message listed every file


def test_deeply_nested_json_to_the_api_is_a_400(portal_url: str, alice: requests.Session) -> None:
    headers = {**csrf_headers(alice, portal_url), "Content-Type": "application/json"}
    before = alice.get(f"{portal_url}/api/apps/sales", timeout=30).json()
    for body in (DEEP, '{"title": ' + DEEP + "}"):
        answer = alice.patch(f"{portal_url}/api/apps/sales", data=body, headers=headers)
        assert answer.status_code == 400, answer.text[:300]
        assert answer.json()["error"].startswith("The JSON body is nested too deeply.")
    assert alice.get(f"{portal_url}/api/apps/sales", timeout=30).json() == before


@pytest.mark.parametrize("back", ["/\t/evil.example", "/\\evil.example", "//evil.example"])
def test_form_posts_return_only_to_local_paths(
    portal_url: str, alice: requests.Session, back: str
) -> None:
    answer = alice.post(
        f"{portal_url}/manager/initialize",
        data={"slug": "Bad Slug", "back": back},
        headers=csrf_headers(alice, portal_url),
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/manager/"


def _suggest(alice: requests.Session, portal_url: str, query: str) -> list[str]:
    answer = alice.get(f"{portal_url}/manager/suggest", params={"q": query}, timeout=30)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()["suggestions"]


def test_suggestions_search_the_real_keycloak_by_name_prefix_only(
    portal_url: str, alice: requests.Session
) -> None:
    for query in ("*", "**", "*o*", '"bob"', "bob@example.com", "example.com", "b", "__", "%%"):
        assert _suggest(alice, portal_url, query) == [], query
    assert _suggest(alice, portal_url, "bo") == ["bob"]
    assert _suggest(alice, portal_url, "Bak") == ["bob"]  # Bob Baker
    assert _suggest(alice, portal_url, "bob bak") == ["bob"]
    assert _suggest(alice, portal_url, "ob") == []  # a prefix, not any part


def test_the_host_header_does_not_reach_the_redirect_uri(portal_url: str) -> None:
    forged = requests.get(
        f"{portal_url}/login",
        headers={"Host": "evil.example"},
        allow_redirects=False,
        timeout=30,
    )
    assert forged.status_code == 302
    assert forged.headers["Location"] == f"{portal_url}/login?next=/&moved=1"
    answer = requests.get(
        f"{portal_url}/login",
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["redirect_uri"] == [f"{portal_url}/auth/callback"]


def test_grants_keycloak_does_not_know_are_kept_and_flagged(
    portal_url: str, alice: requests.Session
) -> None:
    headers = csrf_headers(alice, portal_url)
    before = alice.get(f"{portal_url}/api/apps/sales", timeout=30).json()["viewers"]
    grants = {"users": ["bob", "newcomer"], "groups": [*before["groups"], "/nope"]}
    try:
        saved = alice.patch(
            f"{portal_url}/api/apps/sales", json={"viewers": grants}, headers=headers
        )
        assert saved.status_code == 200, saved.text[:300]
        page = alice.get(f"{portal_url}/manager/apps/sales", timeout=30).text
        assert "Keycloak does not know newcomer: not yet signed in." in page
        assert "/nope: no such group in Keycloak (yet)." in page
        refused = alice.patch(
            f"{portal_url}/api/apps/sales", json={"title": "Sa\u202eles"}, headers=headers
        )
        assert refused.status_code == 422
        assert "U+202E RIGHT-TO-LEFT OVERRIDE" in refused.json()["error"]
    finally:
        alice.patch(f"{portal_url}/api/apps/sales", json={"viewers": before}, headers=headers)
