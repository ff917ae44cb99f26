"""The sales app in Chromium: each person sees the banner and the rows of their row rule."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def _rows_of_first_page(page: Page) -> list[dict[str, str]]:
    cells = page.locator("#table td[data-dash-column]")
    expect(page.locator('#table td[data-dash-column="salesman"]').first).to_be_visible()
    rows: dict[int, dict[str, str]] = {}
    for cell in cells.all():
        row = int(cell.get_attribute("data-dash-row") or 0)
        rows.setdefault(row, {})[cell.get_attribute("data-dash-column") or ""] = (
            cell.inner_text().strip()
        )
    return [rows[i] for i in sorted(rows)]


def _kpi(page: Page, title: str) -> str:
    kpi = page.locator(".sales-kpi", has=page.locator(".kpi-title", has_text=title))
    return kpi.locator(".kpi-value").inner_text()


def _exported_rows(page: Page, portal_url: str) -> list[dict[str, str]]:
    """The CSV behind the page's "Download CSV" link, fetched with the page's cookies."""
    link = page.locator("#export-link")
    expect(link).to_have_attribute("href", re.compile(r"export\.csv\?date_from="))
    answer = page.request.get(portal_url + link.get_attribute("href"))
    assert answer.status == 200, answer.text()
    return list(csv.DictReader(io.StringIO(answer.text())))


@pytest.mark.parametrize(
    ("username", "banner", "allowed"),
    [
        ("bob", "Your sales", lambda row: row["salesman"] == "bob"),
        ("carol", "East region", lambda row: row["region"] == "east"),
        ("admin", "All regions (admin)", lambda row: True),
    ],
    ids=["bob", "carol", "admin"],
)
def test_sales_page_shows_only_the_rows_of_the_user(
    page: Page,
    portal_url: str,
    sign_in: Callable[..., None],
    username: str,
    banner: str,
    allowed: Callable[[dict[str, str]], bool],
) -> None:
    sign_in(page, portal_url, username, next_path="/apps/sales/")
    assert page.url == f"{portal_url}/apps/sales/"
    expect(page.locator(".sales-title h1")).to_have_text("Sales")
    expect(page.locator("#scope-banner")).to_have_text(banner)
    expect(page.locator("#scope-detail")).to_have_text(f"Signed in as {username}")
    expect(page.locator("#no-access")).to_be_hidden()

    table = _rows_of_first_page(page)
    assert 0 < len(table) <= 20
    assert all(allowed(row) for row in table), table

    # The KPIs count exactly the rows the export gives this user for the same filters,
    # and every one of those rows is allowed.
    expect(page.locator(".sales-kpi")).to_have_count(4)
    exported = _exported_rows(page, portal_url)
    assert exported and all(allowed(row) for row in exported)
    assert int(_kpi(page, "Deals").replace(",", "")) == len(exported)
    units = sum(int(row["units"]) for row in exported)
    assert int(_kpi(page, "Units").replace(",", "")) == units

    regions = {row["region"] for row in exported}
    salesmen = {row["salesman"] for row in exported}
    if username == "bob":
        assert salesmen == {"bob"} and regions == {"east"}
        expect(page.locator(".view-as")).to_be_hidden()
    elif username == "carol":
        assert regions == {"east"} and len(salesmen) > 1 and "bob" in salesmen
        expect(page.locator(".view-as")).to_be_hidden()
    else:
        assert regions == {"east", "west", "north", "south"}
        expect(page.locator(".view-as")).to_be_visible()


@pytest.mark.parametrize("username", ["dave", "erin"])
def test_sales_page_is_403_without_a_grant(
    page: Page, portal_url: str, sign_in: Callable[..., None], username: str
) -> None:
    sign_in(page, portal_url, username)
    expect(page.locator("#cards .card:not([hidden]) h2", has_text="Sales")).to_have_count(0)
    response = page.goto(f"{portal_url}/apps/sales/")
    assert response is not None and response.status == 403
    expect(page.locator(".error-page h1")).to_have_text("Not allowed")
    expect(page.locator(".sales-app")).to_have_count(0)
    assert page.request.get(f"{portal_url}/apps/sales/export.csv").status == 403
