"""The sales Dash app through HTTP: crafted callback bodies and export URLs leak nothing.

The app is built as the platform builds it (its configuration and URL prefix from the
environment) and called in-process through its own Flask server. Who is asking travels in
the ``Plotly-User-Data`` header, exactly as the platform's front door hands it to the app.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import dash
import psycopg
import pytest
from dash_appkit import platform

from app.sales.salesapp import SalesConfig, create_app
from app.sales.salesapp.data import COLUMNS
from portal.callback_body import callback_body
from tests.unit.demo import CONTRACT_USERS, DEMO_USERS
from tests.unit.identity_headers import identity_headers

ROWS = 20_000
PREFIX = "/apps/sales/"
#: The audit event of the admin's every-row view, as the fixture below keeps it.
ALL_ROWS = ("admin", "app.view_all_rows", "all rows")


#: The contract's demo users, exactly: roles of client dash and groups.
DEMO = {name: DEMO_USERS[name] for name in CONTRACT_USERS}


def as_user(who: str | None) -> dict[str, str]:
    """The front door's identity header for the demo user ``who`` (none when anonymous)."""
    return identity_headers(DEMO.get(who or ""))


def build(data_dir: Path, prefix: str | None = PREFIX, **env: str) -> dash.Dash:
    """The app as the platform starts it: everything from the environment."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("DASH_ROUTES_PATHNAME_PREFIX", "DASH_REQUESTS_PATHNAME_PREFIX"):
            if prefix is None:
                mp.delenv(name, raising=False)
            else:
                mp.setenv(name, prefix)
        mp.setenv("SALES_ROWS", str(ROWS))
        mp.setenv("DASH_APP_DATA_DIR", str(data_dir))
        mp.delenv("SALES_BACKEND", raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        return create_app()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def served(data_dir) -> dash.Dash:
    return build(data_dir)


@pytest.fixture(scope="module")
def frame(data_dir, served):
    from app.sales.salesapp import data

    return data.load(data_dir, ROWS).frame  # the app's own copy (loaded once)


@pytest.fixture(autouse=True)
def audit_events(monkeypatch) -> list[tuple]:
    """dash_appkit.platform.record_event, replaced: what the app sends to the audit log."""
    events: list[tuple] = []

    def record(action: str, target: str, *, actor: str, detail: dict) -> None:
        events.append((actor, action, target))

    monkeypatch.setattr(platform, "record_event", record)
    return events


class Caller:
    """Posts /_dash-update-component bodies the way the renderer does, with any values."""

    def __init__(self, app: dash.Dash, prefix: str = PREFIX):
        self.client, self.app, self.prefix = app.server.test_client(), app, prefix

    def _output(self, first: str) -> str:
        return next(k for k in self.app.callback_map if k.startswith(f"..{first}"))

    def call(self, who: str | None, first_output: str, inputs: dict[str, Any], changed=()):
        output = self._output(first_output)
        body = callback_body(self.app.callback_map, output, inputs, changed=changed)
        return self.client.post(
            f"{self.prefix}_dash-update-component", json=body, headers=as_user(who)
        )

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
    return Caller(served)


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
    client = served.server.test_client()
    bob = client.get(f"{PREFIX}_dash-layout", headers=as_user("bob")).get_json()
    admin = client.get(f"{PREFIX}_dash-layout", headers=as_user("admin")).get_json()

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
    assert client.get(PREFIX, headers=as_user("bob")).status_code == 200


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
        served_csv = caller.client.get(href, headers=as_user("bob"))
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
        f"{PREFIX}_dash-update-component", json=body, headers=as_user("bob")
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


def test_admin_views_as_bob_and_it_is_audited(data_dir, frame, audit_events):
    caller = Caller(build(data_dir))  # a fresh app: nothing recorded yet
    own = caller.dashboard("admin").get_json()["response"]
    assert own["scope-banner"]["children"] == "All regions (admin)"
    assert audit_events == [ALL_ROWS]
    dash = caller.dashboard("admin", view_as="user:bob", date_from="2023-01-01")
    payload = dash.get_json()["response"]
    assert payload["scope-banner"]["children"] == "Viewing as bob"
    assert "view_as=user%3Abob" in payload["export-link"]["href"]
    assert_only(payload, frame, salesmen={"bob"}, regions={"east"})
    table = caller.table("admin", view_as="user:bob").get_json()["response"]["table"]["data"]
    assert table and {r["salesman"] for r in table} == {"bob"}
    assert audit_events == [ALL_ROWS, ("admin", "app.view_as", "user:bob")]


def test_a_callback_storm_audits_every_row_once(data_dir, audit_events):
    app = build(data_dir)  # a fresh app: nothing recorded yet
    caller = Caller(app)
    layout = app.server.test_client().get(f"{PREFIX}_dash-layout", headers=as_user("admin"))
    assert layout.status_code == 200
    assert audit_events == [ALL_ROWS]  # the page view
    for day in range(1, 11):
        dash = caller.dashboard("admin", date_from=f"2024-01-{day:02d}", product=["Cloud Pro"])
        assert dash.get_json()["response"]["scope-banner"]["children"] == "All regions (admin)"
        assert caller.table("admin", page=day, changed=["table.page_current"]).status_code == 200
    assert caller.call("admin", "salesman", {"view-as.value": None}).status_code == 200
    assert audit_events == [ALL_ROWS]
    for who in ("alice", "bob", "carol", "frank"):
        caller.dashboard(who)
    assert audit_events == [ALL_ROWS]


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
    return served.server.test_client().get(f"{PREFIX}export.csv{query}", headers=as_user(who))


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
    client = served.server.test_client()
    for unusable in ("not json", '{"username": ""}', '{"user": "admin", "groups": []}'):
        answer = client.get(f"{PREFIX}export.csv", headers={"Plotly-User-Data": unusable})
        assert answer.status_code == 401 and b"," not in answer.data, unusable
    assert parse(export(served, "dave")) == []


def test_export_view_as_for_admin_is_audited(served, frame, audit_events):
    rows = parse(export(served, "admin", "?view_as=user:frank"))
    assert rows and {r["salesman"] for r in rows} == {"frank"}
    assert audit_events == [("admin", "app.view_as", "user:frank")]


# ---------------------------------------------------------------- configuration


def _sales_table(database_url: str, frame) -> str:
    """The frame as PostgreSQL table ``sales``; the libpq URL SALES_DATABASE_URL takes."""
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    types = ("date", "text", "text", "text", "text", "integer", "double precision")
    with psycopg.connect(url) as connection:
        columns = ", ".join(f'"{c}" {t}' for c, t in zip(COLUMNS, types, strict=True))
        connection.execute(f"CREATE TABLE sales ({columns})")
        with connection.cursor().copy(f"COPY sales ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in frame[list(COLUMNS)].astype(str).itertuples(index=False):
                copy.write_row(row)
    return url


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_the_sql_backend_agrees_and_the_prefix_comes_from_the_environment(
    data_dir, frame, backend, request
):
    memory_app = build(data_dir)
    env = {"SALES_BACKEND": backend}
    if backend == "postgres":
        env["SALES_DATABASE_URL"] = _sales_table(request.getfixturevalue("postgres_url"), frame)
    sql_app = build(data_dir, "/apps/sales-sql/", **env)
    assert sql_app.server is not memory_app.server  # one process per app, one server per app
    by_memory = Caller(memory_app).table("frank", salesman=["frank", "bob"])
    by_sql = Caller(sql_app, "/apps/sales-sql/").table("frank", salesman=["frank", "bob"])
    memory_page = by_memory.get_json()["response"]["table"]
    sql_page = by_sql.get_json()["response"]["table"]
    assert memory_page["page_count"] == sql_page["page_count"] > 1
    # Newest first in both; rows of the same day may come in another order.
    assert [r["date"] for r in memory_page["data"]] == [r["date"] for r in sql_page["data"]]
    assert {r["salesman"] for r in memory_page["data"] + sql_page["data"]} == {"frank"}
    a = memory_app.server.test_client().get(
        "/apps/sales/export.csv?region=east", headers=as_user("frank")
    )
    b = sql_app.server.test_client().get(
        "/apps/sales-sql/export.csv?region=east", headers=as_user("frank")
    )
    assert sorted(a.data.splitlines()) == sorted(b.data.splitlines())
    assert len(a.data.splitlines()) - 1 == rows_of(frame, salesman="frank")
    assert sql_app.server.test_client().get("/apps/sales/export.csv").status_code == 404
    # The dashboard's figures (sums, series per region, top customers) are the same too.
    by_memory = Caller(memory_app).dashboard("alice", date_from="2024-03-01")
    by_sql = Caller(sql_app, "/apps/sales-sql/").dashboard("alice", date_from="2024-03-01")
    assert by_sql.status_code == by_memory.status_code == 200
    sql_figures, memory_figures = by_sql.get_json()["response"], by_memory.get_json()["response"]
    assert sql_figures.pop("export-link") != memory_figures.pop("export-link")  # its own prefix
    assert sql_figures == memory_figures


def test_a_local_run_serves_everything_at_the_root(data_dir, frame):
    app = build(data_dir, prefix=None)  # python app.py: no platform, no prefix
    client = app.server.test_client()
    assert client.get("/", headers=as_user("bob")).status_code == 200
    layout = json.dumps(client.get("/_dash-layout", headers=as_user("bob")).get_json())
    assert '"href": "/export.csv"' in layout
    rows = parse(client.get("/export.csv", headers=as_user("bob")))
    assert len(rows) == rows_of(frame, salesman="bob")
    assert client.get("/export.csv").status_code == 401
    elsewhere = client.get(f"{PREFIX}export.csv", headers=as_user("bob"))
    assert elsewhere.mimetype == "text/html" and b"east,bob" not in elsewhere.data  # the page
    dash_ = Caller(app, "/").dashboard("bob", date_from="2023-01-01")
    assert dash_.get_json()["response"]["export-link"]["href"].startswith("/export.csv?")


def test_configuration_comes_from_the_environment(monkeypatch, tmp_path):
    for name in ("SALES_ROWS", "SALES_BACKEND", "SALES_DATABASE_URL", "DASH_APP_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert SalesConfig.from_env() == SalesConfig(1_000_000, "memory", "", Path("data"))
    monkeypatch.setenv("SALES_ROWS", "5000")
    monkeypatch.setenv("SALES_BACKEND", " DuckDB ")
    monkeypatch.setenv("SALES_DATABASE_URL", "postgresql://db/sales")
    monkeypatch.setenv("DASH_APP_DATA_DIR", str(tmp_path))
    assert SalesConfig.from_env() == SalesConfig(5000, "duckdb", "postgresql://db/sales", tmp_path)
    with pytest.raises(ValueError, match="unknown sales backend 'oracle'"):
        build(tmp_path, SALES_BACKEND="oracle")
