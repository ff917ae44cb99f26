"""The sales app in its own processes: rows by who is asking, and an admin's "view as" and
every-row view reaching the platform's audit log through the app-events API (never the
database)."""

from __future__ import annotations

import csv
import io

import pytest

from tests.oidc_flow import login

pytestmark = pytest.mark.integration


def _salesmen(text: str) -> set[str]:
    return {row["salesman"] for row in csv.DictReader(io.StringIO(text))}


def test_export_rows_follow_the_verified_identity(portal_url: str) -> None:
    bob = login(portal_url, "bob")
    answer = bob.get(f"{portal_url}/apps/sales/export.csv?salesman=alice", timeout=60)
    assert answer.status_code == 200
    assert _salesmen(answer.text) <= {"bob"}  # a filter only narrows
    forged = bob.get(
        f"{portal_url}/apps/sales/export.csv",
        headers={"Plotly-User-Data": '{"username": "admin", "roles": ["admin"], "groups": []}'},
        timeout=60,
    )
    assert _salesmen(forged.text) == {"bob"}


def test_admin_view_as_is_audited_by_the_platform(portal_url: str) -> None:
    admin = login(portal_url, "admin")
    answer = admin.get(f"{portal_url}/apps/sales/export.csv?view_as=user:frank", timeout=60)
    assert answer.status_code == 200
    assert _salesmen(answer.text) == {"frank"}
    page = admin.get(f"{portal_url}/admin/audit", timeout=30)
    assert page.status_code == 200
    assert "app.view_as" in page.text and "user:frank" in page.text
    # A salesman's view-as is ignored: his own rows.
    bob = login(portal_url, "bob")
    own = bob.get(f"{portal_url}/apps/sales/export.csv?view_as=user:frank", timeout=60)
    assert _salesmen(own.text) == {"bob"}


def test_admin_every_row_view_is_audited_by_the_platform(portal_url: str) -> None:
    # The app decides with dash_appkit.roles (roles.py shipped in its environment).
    admin = login(portal_url, "admin")
    answer = admin.get(f"{portal_url}/apps/sales/export.csv?date_from=2025-12-01", timeout=60)
    assert answer.status_code == 200
    assert {"alice", "bob", "frank"} <= _salesmen(answer.text)
    page = admin.get(f"{portal_url}/admin/audit", timeout=30)
    assert "app.view_all_rows" in page.text and "all rows" in page.text
