"""The sales Dash app through HTTP: crafted callback bodies and export URLs leak nothing.

These tests mount the app on a bare Flask server whose ``before_request`` sets ``g.user``
from a test-only ``X-Test-User`` header. That shortcut exists ONLY in these unit tests of the
app, standing in for the platform's guard; the real portal never reads identity from a
header (the integration tests sign in through Keycloak).
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from flask import Flask, g, request

from app.sales import create_app
from portal.callback_body import callback_body
from portal.settings import Settings
from tests.unit.conftest_registry import CONTRACT_USERS, DEMO_USERS

ROWS = 20_000
PREFIX = "/apps/sales/"


#: The contract's demo users, exactly: roles of client dash and groups.
DEMO = {name: DEMO_USERS[name] for name in CONTRACT_USERS}


def make_server(settings: Settings, prefixes: tuple[str, ...] = (PREFIX,)) -> tuple[Flask, list]:
    server = Flask(__name__)

    @server.before_request
    def test_only_identity() -> None:
        # TEST ONLY: stands in for the platform's guard (see the module docstring).
        g.user = DEMO.get(request.headers.get("X-Test-User", ""))

    apps = [create_app(server=server, url_base_pathname=p, settings=settings) for p in prefixes]
    return server, apps


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), sales_rows=ROWS)


@pytest.fixture(scope="module")
def served(settings):
    server, (app,) = make_server(settings)
    return server, app


@pytest.fixture(scope="module")
def frame(settings, served):
    from app.sales import data

    return data.load(settings.data_dir, ROWS).frame  # the app's own copy (loaded once)


@pytest.fixture(autouse=True)
def audit_events(monkeypatch) -> list[tuple]:
    from portal import audit

    events: list[tuple] = []
    monkeypatch.setattr(
        audit, "record", lambda actor, action, target, **kw: events.append((actor, action, target))
    )
    return events


class Caller:
    """Posts /_dash-update-component bodies the way the renderer does, with any values."""

    def __init__(self, server: Flask, app: Any, prefix: str = PREFIX):
        self.client, self.app, self.prefix = server.test_client(), app, prefix

    def _output(self, first: str) -> str:
        return next(k for k in self.app.callback_map if k.startswith(f"..{first}"))

    def call(self, who: str | None, first_output: str, inputs: dict[str, Any], changed=()):
        output = self._output(first_output)
        body = callback_body(self.app.callback_map, output, inputs, changed=changed)
        headers = {"X-Test-User": who} if who else {}
        return self.client.post(f"{self.prefix}_dash-update-component", json=body, headers=headers)

    def dashboard(self, who, **inputs):
        return self.call(who, "scope-banner", _inputs(inputs))

    def table(self, who, **inputs):
        return self.call(who, "table", _inputs(inputs), changed=inputs.pop("changed", ()))


def _inputs(kw: dict[str, Any]) -> dict[str, Any]:
    names = {
        "date_from": "date-range.start_date",
        "date_to": "date-range.end_date",
        "product": "product.value",
        "salesman": "salesman.value",
        "view_as": "view-as.value",
        "page": "table.page_current",
        "sort_by": "table.sort_by",
    }
    return {names[k]: v for k, v in kw.items() if k in names}


@pytest.fixture(scope="module")
def caller(served) -> Caller:
    return Caller(*served)


def tokens(payload: Any) -> set[str]:
    """Every word in every string of a JSON payload (names, labels, cells, hover text)."""
    text = json.dumps(payload).lower()
    return set(re.split(r"[^a-z0-9-]+", text))


def assert_only(payload: Any, frame, *, salesmen: set[str], regions: set[str]) -> None:
    """No salesman or region outside the allowed ones appears anywhere in ``payload``."""
    words = tokens(payload)
    foreign_people = set(frame["salesman"].astype(str)) - salesmen
    foreign_regions = {"east", "west", "north", "south"} - regions
    assert not (words & foreign_people), words & foreign_people
    assert not (words & foreign_regions), words & foreign_regions


def rows_of(frame, **eq) -> int:
    keep = frame.index == frame.index
    for column, value in eq.items():
        keep &= frame[column] == value
    return int(keep.sum())


# ---------------------------------------------------------------- callbacks


def test_layout_offers_only_what_the_person_may_use(served):
    client = served[0].test_client()
    bob = client.get(f"{PREFIX}_dash-layout", headers={"X-Test-User": "bob"}).get_json()
    admin = client.get(f"{PREFIX}_dash-layout", headers={"X-Test-User": "admin"}).get_json()

    def find(node: Any, wanted: str) -> dict | None:
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == wanted:
                return node["props"]
            return next(filter(None, (find(v, wanted) for v in node.values())), None)
        if isinstance(node, list):
            return next(filter(None, (find(v, wanted) for v in node)), None)
        return None

    assert find(bob, "view-as")["options"] == []
    assert [o["value"] for o in find(bob, "salesman")["options"]] == ["bob"]
    assert "user:bob" in [o["value"] for o in find(admin, "view-as")["options"]]
    assert served[0].test_client().get(PREFIX, headers={"X-Test-User": "bob"}).status_code == 200


def test_bob_gets_only_his_rows_whatever_he_sends(caller, frame, audit_events):
    attempts = [
        {"view_as": "user:frank"},
        {"view_as": "user:admin"},
        {"view_as": "group:/sales/west/managers"},
        {"salesman": ["frank"]},
        {"salesman": ["bob", "frank", "s-west-01"]},
        {"salesman": "frank"},
        {"product": ["Cloud Pro", {"$ne": 1}], "view_as": ["user:frank"]},
    ]
    for attempt in attempts:
        dash = caller.dashboard("bob", date_from="2023-01-01", date_to="2025-12-31", **attempt)
        assert dash.status_code == 200, attempt
        payload = dash.get_json()["response"]
        assert payload["scope-banner"]["children"] == "Your sales"
        # The export link echoes the filters bob sent; what it serves is tested below.
        shown = {k: v for k, v in payload.items() if k != "export-link"}
        assert_only(shown, frame, salesmen={"bob"}, regions={"east"})
        href = payload["export-link"]["href"]
        served_csv = caller.client.get(href, headers={"X-Test-User": "bob"})
        assert {r["salesman"] for r in parse(served_csv)} <= {"bob"}
        table = caller.table("bob", date_from="2023-01-01", date_to="2025-12-31", **attempt)
        data = table.get_json()["response"]["table"]["data"]
        assert {r["salesman"] for r in data} <= {"bob"}, attempt
        assert_only(table.get_json(), frame, salesmen={"bob"}, regions={"east"})
    assert audit_events == []


def test_salesman_filter_narrows_to_nothing_foreign(caller, frame):
    table = caller.table("bob", date_from="2023-01-01", date_to="2025-12-31", salesman=["frank"])
    assert table.get_json()["response"]["table"]["data"] == []
    mine = caller.table("bob", date_from="2023-01-01", date_to="2025-12-31", salesman=["bob"])
    assert len(mine.get_json()["response"]["table"]["data"]) == 20


def test_manager_sees_the_region_only(caller, frame):
    for attempt in ({}, {"view_as": "group:/sales/west/managers"}, {"salesman": ["frank"]}):
        dash = caller.dashboard("carol", date_from="2023-01-01", date_to="2025-12-31", **attempt)
        payload = dash.get_json()["response"]
        assert payload["scope-banner"]["children"] == "East region"
        east = set(frame.loc[frame["region"] == "east", "salesman"].astype(str))
        shown = {k: v for k, v in payload.items() if k != "export-link"}  # echoes the filters
        assert_only(shown, frame, salesmen=east, regions={"east"})
        sort = [{"column_id": "region", "direction": "asc"}]
        table = caller.table("carol", sort_by=sort, changed=["table.sort_by"], **attempt)
        assert {r["region"] for r in table.get_json()["response"]["table"]["data"]} <= {"east"}


def test_foreign_state_in_a_crafted_body_returns_nothing_foreign(caller, frame):
    # A "store" the app never had, holding another region: Dash refuses the body.
    output = caller._output("table")
    spec = caller.app.callback_map[output]["inputs"]
    body = {
        "output": output,
        "outputs": [{"id": "table", "property": p} for p in ("data", "page_count", "page_current")],
        "inputs": [{**i, "value": None} for i in spec]
        + [{"id": "region-store", "property": "data", "value": "west"}],
        "changedPropIds": ["region-store.data"],
        "state": [{"id": "view-as", "property": "value", "value": "user:frank"}],
    }
    answer = caller.client.post(
        f"{PREFIX}_dash-update-component", json=body, headers={"X-Test-User": "bob"}
    )
    assert b"frank" not in answer.data and b"west" not in answer.data


def test_anonymous_callbacks_return_nothing(caller):
    assert caller.dashboard(None, view_as="user:bob").status_code == 204
    assert caller.table(None, salesman=["bob"]).status_code == 204
    assert caller.call(None, "salesman", {"view-as.value": "user:bob"}).status_code == 204


def test_no_rows_gets_a_friendly_explanation(caller):
    for who in ("dave", "erin"):
        payload = caller.dashboard(who).get_json()["response"]
        assert payload["no-access"]["hidden"] is False
        assert payload["dashboard"]["hidden"] is True
        assert "You have no sales rows" in json.dumps(payload["no-access"]["children"])
        assert payload["revenue-time"]["figure"]["data"] == []
        assert caller.table(who).get_json()["response"]["table"]["data"] == []


def test_admin_views_as_bob_and_it_is_audited(settings, frame, audit_events):
    server, (app,) = make_server(settings)  # a fresh app: nothing recorded yet
    caller = Caller(server, app)
    own = caller.dashboard("admin").get_json()["response"]
    assert own["scope-banner"]["children"] == "All regions (admin)"
    assert audit_events == []
    dash = caller.dashboard("admin", view_as="user:bob", date_from="2023-01-01")
    payload = dash.get_json()["response"]
    assert payload["scope-banner"]["children"] == "Viewing as bob"
    assert "view_as=user%3Abob" in payload["export-link"]["href"]
    assert_only(payload, frame, salesmen={"bob"}, regions={"east"})
    table = caller.table("admin", view_as="user:bob").get_json()["response"]["table"]["data"]
    assert table and {r["salesman"] for r in table} == {"bob"}
    assert audit_events == [("admin", "app.view_as", "user:bob")]


def test_table_pages_and_sorts_on_the_server(caller, frame):
    bob = frame[frame["salesman"] == "bob"]
    sort = [{"column_id": "amount", "direction": "desc"}]
    first = caller.table("bob", date_from="2023-01-01", date_to="2025-12-31", sort_by=sort)
    answer = first.get_json()["response"]["table"]
    assert answer["page_count"] == -(-len(bob) // 20)
    assert [r["amount"] for r in answer["data"]] == sorted(bob["amount"], reverse=True)[:20]
    second = caller.table(
        "bob", date_from="2023-01-01", date_to="2025-12-31", sort_by=sort, page=1,
        changed=["table.page_current"],
    )  # fmt: skip
    assert second.get_json()["response"]["table"]["page_current"] == 1
    assert [r["amount"] for r in second.get_json()["response"]["table"]["data"]] == sorted(
        bob["amount"], reverse=True
    )[20:40]


# ---------------------------------------------------------------- export


def export(served, who: str | None, query: str = ""):
    headers = {"X-Test-User": who} if who else {}
    return served[0].test_client().get(f"{PREFIX}export.csv{query}", headers=headers)


def parse(answer) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


@pytest.mark.parametrize(
    "query",
    ["", "?salesman=frank", "?region=west", "?view_as=admin", "?view_as=user:admin",
     "?view_as=group:/sales/west/managers", "?salesman=bob&salesman=frank&region=north"],
)  # fmt: skip
def test_export_tampering_returns_only_bobs_rows(served, frame, query, audit_events):
    answer = export(served, "bob", query)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = parse(answer)
    assert {r["salesman"] for r in rows} <= {"bob"}
    if "frank" not in query:
        assert len(rows) == rows_of(frame, salesman="bob")
    assert audit_events == []


def test_export_honours_filters(served, frame):
    answer = export(served, "carol", "?date_from=2024-01-01&date_to=2024-01-31&product=Cloud+Pro")
    rows = parse(answer)
    east = frame[
        (frame["region"] == "east")
        & (frame["date"] >= "2024-01-01")
        & (frame["date"] <= "2024-01-31")
        & (frame["product"] == "Cloud Pro")
    ]
    assert len(rows) == len(east) > 0
    assert {r["region"] for r in rows} == {"east"} and {r["product"] for r in rows} == {"Cloud Pro"}
    assert (
        min(r["date"] for r in rows) >= "2024-01-01"
        and max(r["date"] for r in rows) <= "2024-01-31"
    )


def test_export_anonymous_and_no_rows(served):
    anonymous = export(served, None)
    assert anonymous.status_code == 401 and b"," not in anonymous.data
    assert parse(export(served, "dave")) == []


def test_export_view_as_for_admin_is_audited(served, frame, audit_events):
    rows = parse(export(served, "admin", "?view_as=user:frank"))
    assert rows and {r["salesman"] for r in rows} == {"frank"}
    assert audit_events == [("admin", "app.view_as", "user:frank")]


# ---------------------------------------------------------------- mounting


def test_two_apps_share_one_server_and_the_sql_backend_agrees(settings, frame):
    duck = Settings(data_dir=settings.data_dir, sales_rows=ROWS, extra={"sales_backend": "duckdb"})
    server = Flask(__name__)

    @server.before_request
    def test_only_identity() -> None:  # TEST ONLY, as above
        g.user = DEMO.get(request.headers.get("X-Test-User", ""))

    memory_app = create_app(server=server, url_base_pathname="/apps/sales/", settings=settings)
    sql_app = create_app(server=server, url_base_pathname="/apps/sales-sql/", settings=duck)
    by_memory = Caller(server, memory_app).table("frank", salesman=["frank", "bob"])
    by_sql = Caller(server, sql_app, "/apps/sales-sql/").table("frank", salesman=["frank", "bob"])
    memory_page = by_memory.get_json()["response"]["table"]
    sql_page = by_sql.get_json()["response"]["table"]
    assert memory_page["page_count"] == sql_page["page_count"] > 1
    # Newest first in both; rows of the same day may come in another order.
    assert [r["date"] for r in memory_page["data"]] == [r["date"] for r in sql_page["data"]]
    assert {r["salesman"] for r in memory_page["data"] + sql_page["data"]} == {"frank"}
    client = server.test_client()
    a = client.get("/apps/sales/export.csv?region=east", headers={"X-Test-User": "frank"})
    b = client.get("/apps/sales-sql/export.csv?region=east", headers={"X-Test-User": "frank"})
    assert sorted(a.data.splitlines()) == sorted(b.data.splitlines())
    assert len(a.data.splitlines()) - 1 == rows_of(frame, salesman="frank")
