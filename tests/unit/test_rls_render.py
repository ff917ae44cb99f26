"""dash_appkit.rls renderers: pandas masks and SQL with bound parameters, which agree."""

from __future__ import annotations

import sqlite3

import duckdb
import pandas as pd
import psycopg
import pytest
from dash_appkit.identity import User
from dash_appkit.rls import (
    AllowedRows,
    Clause,
    RowPolicy,
    Rule,
    always,
    column_equals,
    quote_identifier,
)

from tests.unit.rls_cases import PEOPLE, POLICY, ids, sample_frame, user


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return sample_frame()


# ---------------------------------------------------------------- SQL


@pytest.mark.parametrize("paramstyle", ["qmark", "format", "pyformat", "named"])
def test_sql_binds_every_value(paramstyle):
    evil = "x' OR '1'='1"
    allowed = AllowedRows(
        (
            Clause.of({"salesman": [evil, "bob"]}),
            Clause.of({"region": ["east"], "product": ["kit-9"]}),
        )
    )
    where = allowed.to_sql({"salesman", "region", "product"}, paramstyle)
    for value in (evil, "bob", "east", "kit-9"):
        assert value not in where.sql
    values = list(where.params.values()) if isinstance(where.params, dict) else where.params
    assert sorted(values) == sorted([evil, "bob", "east", "kit-9"])
    mark = {"qmark": "?", "format": "%s", "pyformat": "%(rls_", "named": ":rls_"}[paramstyle]
    assert where.sql.count(mark) == 4
    assert '"salesman"' in where.sql and '"region"' in where.sql


def test_sql_refuses_columns_outside_the_allowlist():
    allowed = AllowedRows((Clause.of({"salary": ["1"]}),))
    with pytest.raises(ValueError):
        allowed.to_sql({"region"})
    with pytest.raises(ValueError):
        RowPolicy(
            columns={"region"}, rules=[Rule(when=always, allow=column_equals("x", value="1"))]
        )
    for bad in ['region"; DROP TABLE t; --', "a b", "", "1a"]:
        with pytest.raises(ValueError):
            quote_identifier(bad)
    with pytest.raises(ValueError):
        AllowedRows.all().to_sql({"region"}, "numeric")


def _everyone() -> list[User]:
    return [
        user("root", roles=("admin",)),
        user("zed"),
        user("x' OR 1=1 --", groups=("/sales/east",)),
        user("carl", groups=("/sales/east/managers", "/sales/south/managers")),
        user("cid", groups=("/sales/west", "/sales/east/managers")),
        *[user(name, groups=(f"/sales/{region}",)) for name, region in PEOPLE.items()],
    ]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(
        region=frame["region"].astype(str),
        salesman=frame["salesman"].astype(str),
        product=frame["product"].astype(str),
    )


def test_duckdb_and_sqlite_return_the_pandas_rows(frame):
    plain = _plain(frame)
    duck = duckdb.connect()
    duck.register("t", plain)
    lite = sqlite3.connect(":memory:")
    plain.to_sql("t", lite, index=False)
    for person in _everyone():
        allowed = POLICY.evaluate(person)
        want = ids(frame, allowed)
        where = POLICY.where(allowed, "qmark")
        sql = f"SELECT id FROM t WHERE {where.sql}"  # noqa: S608 - the policy's own SQL
        assert {r[0] for r in duck.execute(sql, where.params).fetchall()} == want, person.username
        named = POLICY.where(allowed, "named")
        sql = f"SELECT id FROM t WHERE {named.sql}"  # noqa: S608 - the policy's own SQL
        assert {r[0] for r in lite.execute(sql, named.params)} == want, person.username


def test_postgresql_returns_the_pandas_rows(frame, postgres_url):
    plain = _plain(frame)
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as pg:
        pg.execute("CREATE TABLE t (id integer, salesman text, region text, product text)")
        with pg.cursor().copy("COPY t (id, salesman, region, product) FROM STDIN") as copy:
            for row in plain[["id", "salesman", "region", "product"]].itertuples(index=False):
                copy.write_row([int(row.id), row.salesman, row.region, row.product])
        for person in _everyone():
            allowed = POLICY.evaluate(person)
            for paramstyle in ("format", "pyformat"):  # the styles psycopg takes
                where = POLICY.where(allowed, paramstyle)
                sql = f"SELECT id FROM t WHERE {where.sql}"  # noqa: S608 - the policy's own SQL
                found = {r[0] for r in pg.execute(sql, where.params).fetchall()}
                assert found == ids(frame, allowed), (person.username, paramstyle)


MIXED = AllowedRows(
    (
        Clause.of({"salesman": ["bob", "alice"]}),
        Clause.of({"region": ["east"], "product": ["kit-9"]}),
        Clause.of({"region": ["west"]}),
    )
)


@pytest.mark.parametrize(
    ("paramstyle", "mark"),
    [("qmark", "?"), ("format", "%s"), ("pyformat", "%({})s"), ("named", ":{}")],
)
def test_sql_text_is_stable(paramstyle, mark):
    # The text and parameters the SQL backends (DuckDB, PostgreSQL) have always been given.
    m = [mark.format(f"rls_{i}") for i in range(5)]
    want = (
        f'(("product" = {m[0]} AND "region" = {m[1]}) OR "region" = {m[2]}'
        f' OR "salesman" IN ({m[3]}, {m[4]}))'
    )
    where = MIXED.to_sql({"salesman", "region", "product"}, paramstyle)
    assert where.sql == want
    values = ["kit-9", "east", "west", "alice", "bob"]
    if paramstyle in ("pyformat", "named"):
        assert where.params == {f"rls_{i}": v for i, v in enumerate(values)}
    else:
        assert where.params == values


def test_mask_needs_every_column_it_constrains(frame):
    with pytest.raises(ValueError, match="'customer' is not in the frame"):
        AllowedRows((Clause.of({"customer": ["x"]}),)).mask(frame)
    assert not AllowedRows.none().mask(frame).any()
    assert AllowedRows.none().select(frame).empty
    assert list(AllowedRows.all().mask(frame)) == [True] * len(frame)
