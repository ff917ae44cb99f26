"""The App Manager in Chromium: a grant naming someone Keycloak does not know is flagged."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.oidc_flow import login

pytestmark = pytest.mark.browser


def test_a_viewer_not_yet_signed_in_is_saved_and_flagged(
    page: Page, portal_url: str, sign_in: Callable[..., None]
) -> None:
    """Dash Enterprise's case: an external IdP's user, granted before their first sign-in."""
    api = login(portal_url, "alice")
    csrf = {"X-CSRF-Token": api.get(f"{portal_url}/api/me", timeout=10).json()["csrf_token"]}
    before = api.get(f"{portal_url}/api/apps/sales", timeout=10).json()["viewers"]
    try:
        sign_in(page, portal_url, "alice", next_path="/manager/apps/sales")
        expect(page.locator("#app-title")).to_have_text("Sales")
        warning = page.locator("#unknown-grants")
        expect(warning).to_be_hidden()

        picker = page.locator('.picker[data-field="viewers"][data-key="users"]')
        for name in ("newcomer", "dave"):
            picker.locator("input").fill(name)
            picker.locator("[data-add]").click()
        page.locator("#save").click()
        expect(page.locator("#save-status")).to_have_text("Saved.")

        expect(warning).to_be_visible()
        expect(warning).to_contain_text("Keycloak does not know newcomer: not yet signed in.")
        expect(warning).to_have_class(re.compile(r"\bnotice-warn\b"))
        newcomer = picker.locator(".chip", has_text="newcomer")
        expect(newcomer.locator(".badge")).to_have_text("not yet signed in")
        expect(picker.locator(".chip", has_text="dave").locator(".badge")).to_have_count(0)
        saved = api.get(f"{portal_url}/api/apps/sales", timeout=10).json()["viewers"]
        assert {"newcomer", "dave"} <= set(saved["users"])  # kept, as Dash Enterprise does
    finally:
        restored = api.patch(
            f"{portal_url}/api/apps/sales", json={"viewers": before}, headers=csrf, timeout=10
        )
        assert restored.status_code == 200, restored.text
