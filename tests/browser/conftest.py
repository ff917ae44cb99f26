"""A real browser on the real stack: Debian's Chromium driven by Playwright.

One Chromium per test session (the ``browser`` fixture), a fresh context per test (the
``page`` fixture), so tests share no cookies. Every page a test used is saved as a
screenshot under ``test-artifacts/`` when the test ends, also when it fails. The Keycloak
and portal come from the session fixtures of ``tests/conftest.py``.

Playwright cannot download its own browsers here; it drives ``/usr/bin/chromium`` (Debian
package ``chromium``). Without it the tests fail with a message saying so: never a skip.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 800}
#: Generous: two cores are shared with Keycloak, gunicorn and other work.
TIMEOUT_MS = 30_000
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

__all__ = ["ARTIFACTS", "TIMEOUT_MS", "sign_in"]

expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. "
            "Install it with `apt-get update && apt-get install -y chromium` "
            "(`playwright install` cannot download browsers here).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _artifact_name(node_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", node_name).strip("-")


def _screenshot(page: Page, name: str) -> None:
    if page.is_closed():
        return
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    except Exception as error:  # a screenshot must never hide the test's own result
        print(f"screenshot {name} failed: {error}")


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[[], Page]]:
    """Make pages, each in its own fresh context (cookies not shared), closed at the end.

    The first page's screenshot is ``test-artifacts/<test-name>.png``; later ones get
    ``-2``, ``-3``... appended.
    """
    made: list[tuple[BrowserContext, Page]] = []

    def make() -> Page:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        made.append((context, page))
        return page

    try:
        yield make
    finally:
        base = _artifact_name(request.node.name)
        for number, (context, page) in enumerate(made, start=1):
            _screenshot(page, base if number == 1 else f"{base}-{number}")
            context.close()


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    """A page in a fresh browser context (1280x800), screenshotted when the test ends."""
    return new_page()


def sign_in(page: Page, portal_url: str, username: str, next_path: str = "/") -> None:
    """Sign in as ``username`` through Keycloak's own login form; wait to be back."""
    page.goto(f"{portal_url}/login?next={quote(next_path, safe='/')}")
    page.wait_for_selector("#username")
    page.fill("#username", username)
    page.fill("#password", f"{username}-password")
    page.click("#kc-login")
    page.wait_for_url(lambda url: url.startswith(portal_url + "/"))
    page.wait_for_load_state()


@pytest.fixture(name="sign_in")
def _sign_in_fixture() -> Callable[..., None]:
    """:func:`sign_in` for the tests (a fixture: ``conftest`` is no importable module name)."""
    return sign_in
