"""The portal in Chromium: what visitors see, signing in and out, the App Manager flow."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.oidc_flow import login

pytestmark = pytest.mark.browser


def _card_titles(page: Page):
    return page.locator("#cards .card:not([hidden]) h2")


def test_anonymous_visitor_sees_public_apps_and_a_sign_in_button(
    page: Page, portal_url: str
) -> None:
    response = page.goto(f"{portal_url}/")
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_have_text("Welcome to the Dash Portal")
    expect(_card_titles(page)).to_have_text(["Public"])
    expect(page.locator("header .whoami").get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.locator("header").get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.locator("#cards")).not_to_contain_text("Sales")


def test_alice_signs_in_through_keycloak_and_sees_her_apps(
    page: Page, portal_url: str, stack, sign_in: Callable[..., None]
) -> None:
    page.goto(f"{portal_url}/login?next=/")
    # Keycloak's own page, not a form of the portal.
    page.wait_for_url(lambda url: url.startswith(stack.keycloak_url + "/"))
    expect(page.locator("#kc-form-login")).to_be_visible()
    sign_in(page, portal_url, "alice")
    assert page.url.rstrip("/") == portal_url
    expect(page.locator("header .whoami .name")).to_have_text("Alice Archer")
    expect(page.locator(".page-head")).to_contain_text("Hello Alice Archer")
    titles = _card_titles(page)
    expect(titles.filter(has_text=re.compile(r"^Sales$"))).to_have_count(1)
    expect(titles.filter(has_text=re.compile(r"^Public$"))).to_have_count(1)
    expect(titles.filter(has_text="Finance")).to_have_count(0)
    expect(page.locator("header nav").get_by_role("link", name="App Manager")).to_be_visible()


def _sales_settings_as_alice(portal_url: str) -> tuple[object, str, dict]:
    session = login(portal_url, "alice")
    csrf = session.get(f"{portal_url}/api/me", timeout=10).json()["csrf_token"]
    answer = session.get(f"{portal_url}/api/apps/sales", timeout=10)
    answer.raise_for_status()
    return session, csrf, answer.json()


def test_owner_adds_a_viewer_in_the_app_manager_and_the_viewer_opens_the_app(
    new_page: Callable[[], Page],
    portal_url: str,
    sign_in: Callable[..., None],
) -> None:
    api, csrf, before = _sales_settings_as_alice(portal_url)
    assert "dave" not in before["viewers"]["users"], "a previous test left dave a viewer"
    try:
        alice = new_page()
        sign_in(alice, portal_url, "alice", next_path="/manager/")
        assert alice.url == f"{portal_url}/manager/"
        row = alice.locator("tr", has=alice.locator("code", has_text="/apps/sales/"))
        row.get_by_role("link", name="Settings").click()
        alice.wait_for_url(re.compile(r"/manager/.*sales"))
        expect(alice.locator("#app-title")).to_have_text("Sales")

        picker = alice.locator('.picker[data-field="viewers"][data-key="users"]')
        picker.locator("input").fill("dave")
        picker.locator("[data-add]").click()
        expect(picker.locator(".chip", has_text="dave")).to_have_count(1)
        with alice.expect_response(
            lambda r: r.url.endswith("/api/apps/sales") and r.request.method == "PATCH"
        ) as patch:
            alice.locator("#save").click()
        assert patch.value.status == 200, patch.value.text()
        assert patch.value.request.headers.get("x-csrf-token")
        status = alice.locator("#save-status")
        expect(status).to_be_visible()
        expect(status).to_have_text("Saved.")
        expect(status).to_have_class(re.compile(r"\bnotice-ok\b"))
        # The server kept the grant, and the group grant beside it.
        after = api.get(f"{portal_url}/api/apps/sales", timeout=10).json()
        assert "dave" in after["viewers"]["users"]
        assert after["viewers"]["groups"] == before["viewers"]["groups"]

        dave = new_page()  # a new context: no cookie of alice's
        sign_in(dave, portal_url, "dave")
        expect(dave.locator("header .whoami .name")).to_have_text("Dave Dawson")
        expect(_card_titles(dave).filter(has_text=re.compile(r"^Sales$"))).to_have_count(1)
        response = dave.goto(f"{portal_url}/apps/sales/")
        assert response is not None and response.status == 200
        # The Dash app rendered and its callbacks ran for dave: he may open the app,
        # but the row rules give him no row.
        expect(dave.locator(".sales-title h1")).to_have_text("Sales")
        expect(dave.locator("#scope-banner")).to_have_text("No sales rows")
        expect(dave.locator("#no-access")).to_contain_text("No sales data for you")
    finally:
        restored = api.patch(
            f"{portal_url}/api/apps/sales",
            json={"viewers": before["viewers"]},
            headers={"X-CSRF-Token": csrf},
            timeout=10,
        )
        assert restored.status_code == 200, restored.text
        assert restored.json()["viewers"] == before["viewers"]


def test_sign_out_button_ends_the_portal_and_keycloak_sessions(
    page: Page, portal_url: str, stack, sign_in: Callable[..., None]
) -> None:
    sign_in(page, portal_url, "bob")
    assert page.request.get(f"{portal_url}/api/me").status == 200
    page.locator("header").get_by_role("button", name="Sign out").click()
    # The portal sends the browser through Keycloak's end-session endpoint and back home.
    page.wait_for_url(f"{portal_url}/")
    expect(page.locator("header .whoami").get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Welcome to the Dash Portal")
    assert page.request.get(f"{portal_url}/api/me").status == 401
    # Keycloak's session ended too: signing in again asks for the password (no SSO).
    page.goto(f"{portal_url}/login?next=/")
    page.wait_for_url(lambda url: url.startswith(stack.keycloak_url + "/"))
    expect(page.locator("#kc-form-login")).to_be_visible()
    expect(page.locator("#password")).to_be_empty()


def test_dash_app_shows_a_notice_when_the_session_ends_while_it_is_open(
    page: Page, portal_url: str, stack, sign_in: Callable[..., None]
) -> None:
    sign_in(page, portal_url, "bob", next_path="/apps/hello/")
    assert page.url == f"{portal_url}/apps/hello/"
    expect(page.locator("h1")).to_contain_text("Hello, ")
    button = page.get_by_role("button", name="Ask the server who I am")
    button.click()
    expect(page.locator("#whoami")).to_have_text("The server says you are bob.")

    # The session ends elsewhere (another tab signs out) while the app stays open.
    csrf = page.request.get(f"{portal_url}/api/me").json()["csrf_token"]
    ended = page.request.post(f"{portal_url}/logout", form={"csrf_token": csrf})
    assert ended.ok, ended.status
    assert page.request.get(f"{portal_url}/api/me").status == 401

    with page.expect_response(lambda r: "/_dash-update-component" in r.url) as update:
        button.click()
    assert update.value.status == 401
    notice = page.locator("#platform-session-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("You have been signed out.")
    link = notice.get_by_role("link", name="Sign in again")
    expect(link).to_have_attribute("href", "/login?next=%2Fapps%2Fhello%2F")
    # The old answer is not replaced by anything the server said after the sign-out.
    expect(page.locator("#whoami")).to_have_text("The server says you are bob.")

    # The link leads through Keycloak's form (its session ended too) back to the app.
    link.click()
    page.wait_for_url(lambda url: url.startswith(stack.keycloak_url + "/"))
    page.fill("#username", "bob")
    page.fill("#password", "bob-password")
    page.click("#kc-login")
    page.wait_for_url(f"{portal_url}/apps/hello/")
    expect(page.locator("#platform-session-notice")).to_have_count(0)
    page.get_by_role("button", name="Ask the server who I am").click()
    expect(page.locator("#whoami")).to_have_text("The server says you are bob.")
