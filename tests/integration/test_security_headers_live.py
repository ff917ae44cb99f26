"""Security headers through the real front door, and a Dash app page in a real browser.

Issue 12: portal pages may not be framed and carry a strict Content-Security-Policy;
apps may be framed by the platform only and otherwise keep their own choices; personal
answers are not stored; no answer names the server software's version; the sign-in
error page says nothing the link's author wrote; thumbnails are hosted uploads.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from oidc_flow import login
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

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


# --- in Chromium ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_dash_app_page_works_in_a_browser_under_the_headers(page: Page, portal_url: str) -> None:
    refused: list[str] = []
    page.on(
        "console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.goto(f"{portal_url}/apps/public/")
    expect(page.locator("h1")).to_have_text("Public demo", timeout=30_000)
    expect(page.locator("#curve .main-svg").first).to_be_visible(timeout=30_000)  # a callback ran
    # The session-watch script the front door injects runs: it wraps fetch.
    assert "You have been signed out." in page.evaluate("String(window.fetch)")
    assert refused == []


@pytest.fixture
def other_site(portal_url: str) -> Iterator[str]:
    """Another origin (another port) whose page frames a portal page and an app page."""
    framing = (
        f'<iframe src="{portal_url}/apps/public/"></iframe><iframe src="{portal_url}/"></iframe>'
    ).encode()

    class Framing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(framing)))
            self.end_headers()
            self.wfile.write(framing)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Framing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_only_the_platform_frames_an_app_and_nobody_frames_the_portal(
    page: Page, portal_url: str, other_site: str
) -> None:
    page.goto(other_site)
    frames = page.main_frame.child_frames
    assert len(frames) == 2
    assert all(frame.url.startswith("chrome-error://") for frame in frames), [f.url for f in frames]
    # A page of the platform frames the app: allowed.
    page.goto(f"{portal_url}/")
    page.evaluate(
        """() => { const f = document.createElement("iframe"); f.id = "probe";
                   f.src = "/apps/public/"; document.body.appendChild(f); }"""
    )
    expect(page.frame_locator("#probe").locator("h1")).to_have_text("Public demo", timeout=30_000)
