"""The App Manager's app page in Chromium at a phone's width: every section usable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}
SECTIONS = ["deployments", "overview", "processes", "environment", "logs", "delete"]


def test_the_app_page_fits_a_phone(
    browser: Browser, portal_url: str, sign_in: Callable[..., None]
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page: Page = context.new_page()
        sign_in(page, portal_url, "alice", "/manager/apps/sales")
        page.goto(f"{portal_url}/manager/apps/sales")
        for section in SECTIONS:
            panel = page.locator(f"section#{section}")
            panel.scroll_into_view_if_needed()
            expect(panel).to_be_visible()
            box = panel.bounding_box()
            assert box is not None and box["x"] >= 0, section
            assert box["x"] + box["width"] <= PHONE["width"] + 1, (section, box)
        # Nothing wider than the screen: the page never scrolls sideways.
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], widths
        restart = page.locator("section#processes").get_by_role("button", name="Restart")
        expect(restart).to_be_visible()
        box = restart.bounding_box()
        assert box is not None and box["height"] >= 24  # big enough to tap
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "manager-app-phone.png"), full_page=True)
    finally:
        context.close()
