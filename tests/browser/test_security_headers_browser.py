"""Security headers in Chromium: a Dash app page works under them, and only the platform
frames an app (the headers themselves: tests/integration/test_security_headers_live.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


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
