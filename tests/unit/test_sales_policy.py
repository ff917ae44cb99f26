"""The sales row rules over generated data: each demo user, the union, the engines, SQL."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from dash_appkit.identity import User
from dash_appkit.rls import AllowedRows, Clause

from app.sales.salesapp import data as sales_data
from app.sales.salesapp.memory import MemoryEngine
from app.sales.salesapp.policy import (
    POLICY_COLUMNS,
    SALES_POLICY,
)
from app.sales.salesapp.queries import Filters
from app.sales.salesapp.sql import SqlEngine
from tests.unit.demo import CONTRACT_USERS, DEMO_USERS

ROWS = 20_000


#: The contract's demo users, exactly: roles of client dash and groups.
DEMO = {name: DEMO_USERS[name] for name in CONTRACT_USERS}

LABELS = {
    "admin": "All regions (admin)",
    "alice": "Your sales",
    "bob": "Your sales",
    "carol": "East region",
    "frank": "Your sales",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return sales_data.load(tmp_path_factory.mktemp("sales"), ROWS)


@pytest.fixture(scope="module")
def frame(data) -> pd.DataFrame:
    return data.frame


@pytest.fixture(scope="module")
def engine(data) -> MemoryEngine:
    return MemoryEngine(data)


@pytest.fixture(scope="module")
def duck(data) -> SqlEngine:
    return SqlEngine.duckdb(data.path)


def expected_rows(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The contract's row rules, written out with pandas (not through the module under test)."""
    if name == "admin":
        return frame
    if name == "carol":
        return frame[frame["region"] == "east"]
    if name in ("alice", "bob", "frank"):
        return frame[frame["salesman"] == name]
    return frame.iloc[0:0]


def full_range(engine) -> Filters:
    return Filters(engine.start, engine.end)


def test_generated_data_is_deterministic_and_compact(data, tmp_path):
    assert len(data.frame) == ROWS
    assert list(data.frame.columns) == list(sales_data.COLUMNS)
    again = sales_data.generate(ROWS)
    assert again.equals(sales_data.generate(ROWS))
    assert sales_data.data_path(tmp_path, ROWS).name == f"sales-{ROWS}-{sales_data.SEED}.parquet"
    assert data.frame.memory_usage(deep=True).sum() / ROWS < 30  # bytes a row
    assert data.region_of()["alice"] == "east" and data.region_of()["frank"] == "west"
    assert not list(data.path.parent.glob("*.tmp"))


@pytest.mark.parametrize("name", sorted(DEMO))
def test_each_demo_user_sees_exactly_their_rows(name, frame, engine):
    want = expected_rows(frame, name)
    allowed = SALES_POLICY.evaluate(DEMO[name])
    got = frame[allowed.mask(frame)]
    assert len(got) == len(want)
    assert set(got["region"].astype(str)) == set(want["region"].astype(str))
    assert got.index.equals(want.index)
    if name in ("dave", "erin"):
        assert allowed.is_none and len(want) == 0
    else:
        assert allowed.label == LABELS[name] and len(want) > 0
    # The engine (indexes, not masks) agrees.
    assert len(engine.rows(allowed, full_range(engine))) == len(want)
    assert engine.summary(allowed, full_range(engine)).deals == len(want)


def test_expected_regions(frame):
    regions = {n: set(expected_rows(frame, n)["region"].astype(str)) for n in DEMO}
    assert regions["admin"] == {"east", "west", "north", "south"}
    assert regions["alice"] == regions["bob"] == regions["carol"] == {"east"}
    assert regions["frank"] == {"west"}
    assert regions["dave"] == regions["erin"] == set()


def test_union_of_all_salesmen_is_admins_rows_without_duplicates(data, frame, engine):
    seen = pd.Series(0, index=frame.index)
    picked = []
    for name, region in data.region_of().items():
        salesman = User(username=name, groups=frozenset({f"/sales/{region}"}))
        allowed = SALES_POLICY.evaluate(salesman)
        seen += allowed.mask(frame)
        picked.append(engine.rows(allowed, full_range(engine)))
    admin = SALES_POLICY.evaluate(DEMO["admin"])
    assert (seen == 1).all()  # every row once: none missing, none twice
    assert seen.sum() == admin.mask(frame).sum() == len(frame)
    rows = pd.Index(sorted(int(r) for part in picked for r in part))
    assert rows.is_unique and rows.equals(pd.Index(range(len(frame))))


def test_the_memory_engine_reads_row_sets_as_the_pandas_renderer_does(frame, engine):
    bob, carol = SALES_POLICY.evaluate(DEMO["bob"]), SALES_POLICY.evaluate(DEMO["carol"])
    row_sets = [
        bob,
        carol.narrow("product", ["Cloud Pro", "Training Day"]),
        AllowedRows((*bob.clauses, Clause.of({"region": ["west"], "product": ["Hardware Kit"]}))),
        carol.narrow("salesman", ["frank"]),
    ]
    for allowed in row_sets:
        got = engine.rows(allowed, full_range(engine))
        assert sorted(got.tolist()) == np.flatnonzero(allowed.mask(frame)).tolist()
    with pytest.raises(ValueError, match="customer"):  # a column it has no index for
        engine.rows(AllowedRows((Clause.of({"customer": ["x"]}),)), full_range(engine))


def test_where_clause_binds_the_identity(engine):
    bob = SALES_POLICY.evaluate(DEMO["bob"])
    where = SALES_POLICY.where(bob, "qmark")
    assert where == ('("salesman" = ?)', ["bob"])
    carol = SALES_POLICY.where(SALES_POLICY.evaluate(DEMO["carol"]), "format")
    assert carol == ('("region" = %s)', ["east"])
    narrowed = Filters(products=("Cloud Pro",), salesmen=("frank",)).narrow(bob)
    sql = narrowed.to_sql(POLICY_COLUMNS, "pyformat")
    assert sql.sql == "1 = 0"  # bob narrowed to frank: no row at all, no value in the text
    mine = Filters(products=("Cloud Pro",)).narrow(bob).to_sql(POLICY_COLUMNS, "pyformat")
    assert "bob" not in mine.sql and "Cloud Pro" not in mine.sql
    assert sorted(mine.params.values()) == ["Cloud Pro", "bob"]


@pytest.mark.parametrize("name", sorted(DEMO))
def test_duckdb_returns_the_same_rows_as_pandas(name, frame, engine, duck):
    allowed = SALES_POLICY.evaluate(DEMO[name])
    want = expected_rows(frame, name)
    csv_mem = "".join(engine.iter_csv(allowed, full_range(engine))).splitlines()
    csv_sql = "".join(duck.iter_csv(allowed, full_range(duck))).splitlines()
    assert csv_mem[0] == csv_sql[0] == ",".join(sales_data.COLUMNS)
    assert len(csv_sql) - 1 == len(want)
    assert sorted(csv_mem) == sorted(csv_sql)
    f = Filters.parse("2024-03-01", "2024-08-31", ["Cloud Pro", "Hardware Kit"])
    narrowed = f.narrow(allowed)
    a, b = engine.summary(narrowed, f), duck.summary(narrowed, f)
    assert (a.deals, a.units) == (b.deals, b.units)
    assert a.revenue == pytest.approx(b.revenue) and a.prev_revenue == pytest.approx(b.prev_revenue)
    assert a.x == b.x and [p for p, _ in a.by_product] == [p for p, _ in b.by_product]
    assert [c for c, _ in a.top_customers] == [c for c, _ in b.top_customers]
    assert [v for _, v in a.top_customers] == pytest.approx([v for _, v in b.top_customers])
    for region, values in b.series.items():
        assert a.series[region] == pytest.approx(values)
    in_range = want[(want["date"] >= "2024-03-01") & (want["date"] <= "2024-08-31")]
    assert a.deals == in_range["product"].isin(["Cloud Pro", "Hardware Kit"]).sum()


def test_filters_only_narrow(frame, engine):
    bob = SALES_POLICY.evaluate(DEMO["bob"])
    for f in (
        Filters(salesmen=("frank",)),
        Filters(salesmen=("bob", "frank", "s-west-01")),
        Filters.parse(None, None, None, ["FRANK", "Bob"]),
        Filters(products=("Cloud Pro",)),
        Filters(dt.date(1990, 1, 1), dt.date(2100, 1, 1)),
    ):
        page = engine.page(f.narrow(bob), f, None, 0, 50)
        assert {r["salesman"] for r in page.records} <= {"bob"}
        assert page.total <= len(expected_rows(frame, "bob"))


def test_dates_resolve_inside_the_data(engine):
    f = Filters.parse("1999-01-01", "2999-01-01").resolve(engine.start, engine.end)
    assert (f.date_from, f.date_to) == (engine.start, engine.end)
    default = Filters().resolve(engine.start, engine.end)
    assert (default.date_to - default.date_from).days == 364
    swapped = Filters.parse("2025-02-01", "2025-01-01").resolve(engine.start, engine.end)
    assert swapped.date_from < swapped.date_to
    assert Filters.parse("not a date", 7, "x", {"a": 1}) == Filters(None, None, ("x",), ())
