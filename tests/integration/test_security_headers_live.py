"""Security headers through the real front door (the browser's side:
tests/browser/test_security_headers_browser.py).

Issue 12: portal pages may not be framed and carry a strict Content-Security-Policy;
apps may be framed by the platform only and otherwise keep their own choices; personal
answers are not stored; no answer names the server software's version; the sign-in
error page says nothing the link's author wrote; thumbnails are hosted uploads.
"""

from __future__ import annotations

import io
import json
import re

import pytest
import requests
from PIL import Image

from tests.oidc_flow import login

pytestmark = pytest.mark.integration


def _directives(response: requests.Response) -> dict[str, list[str]]:
    """Every directive of every Content-Security-Policy header of ``response``."""
    found: dict[str, list[str]] = {}
    for header in response.raw.headers.getlist("Content-Security-Policy"):
        for part in header.split(";"):
            name, *values = part.split() or [""]
            if name:
                found.setdefault(name, []).extend(values)
    return found


def _no_software_versions(response: requests.Response) -> None:
    server = response.headers.get("Server", "")
    assert "gunicorn" not in server.lower() and not re.search(r"\d", server), server
    assert "X-Powered-By" not in response.headers


def test_a_portal_page_may_not_be_framed(portal_url: str) -> None:
    page = requests.get(f"{portal_url}/", timeout=10)
    assert page.status_code == 200
    policy = _directives(page)
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["img-src"] == ["'self'"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["Cache-Control"] == "no-store"
    _no_software_versions(page)


def test_personal_answers_are_not_stored(portal_url: str) -> None:
    alice = login(portal_url, "alice")
    for path in ("/api/me", "/api/apps", "/manager/", "/manager/suggest?kind=user&q=b"):
        answer = alice.get(f"{portal_url}{path}", timeout=30)
        assert answer.status_code == 200, path
        assert answer.headers["Cache-Control"] == "no-store", path
        assert answer.headers["X-Frame-Options"] == "DENY", path


def test_an_app_page_may_be_framed_by_the_platform_only(portal_url: str) -> None:
    page = requests.get(f"{portal_url}/apps/public/", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200
    policies = page.raw.headers.getlist("Content-Security-Policy")
    assert "frame-ancestors 'self'" in policies  # the front door's, on every app
    # The app's own policy passes too: the built-in apps opt into dash_appkit.csp.
    assert any("script-src 'self' 'sha256-" in p for p in policies), policies
    assert set(_directives(page)["frame-ancestors"]) == {"'self'"}
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cache-Control"] == "no-store"  # the app set none
    _no_software_versions(page)
    config = json.loads(
        page.text.split('id="_dash-config" type="application/json">')[1][:20000].split("</script>")[
            0
        ]
    )
    assert "dash_version" not in config and "python_version" not in config
    assert '<script src="/static/session-watch.js"></script>' in page.text


def test_the_sign_in_error_page_says_only_what_the_portal_wrote(portal_url: str) -> None:
    bait = "Your account is locked, call +1 555 0100"
    answer = requests.get(
        f"{portal_url}/auth/callback",
        params={"error": "access_denied", "error_description": bait},
        timeout=10,
    )
    assert answer.status_code == 400
    text = answer.text.split('class="panel error-page"')[1]
    assert "Sign-in was cancelled or refused." in text and "555" not in text


def test_a_thumbnail_is_an_upload_served_as_an_image(portal_url: str) -> None:
    alice = login(portal_url, "alice")
    csrf = alice.get(f"{portal_url}/api/me", timeout=10).json()["csrf_token"]
    picture = io.BytesIO()
    Image.new("RGB", (40, 20), "orange").save(picture, format="PNG")
    headers = {"X-CSRF-Token": csrf, "Content-Type": "image/png"}
    refused = alice.put(
        f"{portal_url}/api/apps/sales/thumbnail", data=b"<svg/onload=alert(1)>", headers=headers
    )
    assert refused.status_code == 422
    outside = alice.patch(
        f"{portal_url}/api/apps/sales",
        json={"thumbnail": "https://tracker.example/p.gif"},
        headers={"X-CSRF-Token": csrf},
    )
    assert outside.status_code == 422
    try:
        answer = alice.put(
            f"{portal_url}/api/apps/sales/thumbnail", data=picture.getvalue(), headers=headers
        )
        assert answer.status_code == 200, answer.text
        served = requests.get(portal_url + answer.json()["thumbnail"], timeout=10)
        assert served.status_code == 200 and served.content == picture.getvalue()
        assert served.headers["Content-Type"] == "image/png"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        alice.delete(f"{portal_url}/api/apps/sales/thumbnail", headers={"X-CSRF-Token": csrf})
