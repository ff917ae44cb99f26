"""dash_appkit.rls on its own: policies as data, deny by default, pandas masks and SQL."""

from __future__ import annotations

import logging
import sqlite3

import duckdb
import numpy as np
import pandas as pd
import pytest
from dash_appkit.identity import User
from dash_appkit.rls import (
    ALL_ROWS,
    NO_ROWS,
    AllowedRows,
    Clause,
    RowPolicy,
    Rule,
    allowed_to,
    always,
    any_of,
    column_equals,
    has_role,
    in_group,
    in_group_pattern,
    quote_identifier,
)
from dash_appkit.roles import Action, can

REGIONS = ["east", "west", "north", "south"]
PEOPLE = {"ann": "east", "ben": "east", "cid": "west", "dee": "north", "eve": "south"}


def user(name: str, *, roles: tuple[str, ...] = ("viewer",), groups: tuple[str, ...] = ()) -> User:
    return User(username=name, roles=frozenset(roles), groups=frozenset(groups))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    seller = rng.choice(sorted(PEOPLE), size=400)
    return pd.DataFrame(
        {
            "id": np.arange(400),
            "region": pd.Categorical([PEOPLE[s] for s in seller]),
            "salesman": pd.Categorical(seller),
            "product": pd.Categorical(rng.choice(["a", "b", "c"], size=400)),
            "amount": rng.integers(1, 100, size=400),
        }
    )


POLICY = RowPolicy(
    name="test",
    columns={"region", "salesman", "product"},
    rules=[
        Rule(when=has_role("admin"), allow=ALL_ROWS, label="All regions (admin)", final=True),
        Rule(
            when=in_group_pattern("/sales/{region}/managers"),
            allow=column_equals("region", from_group="region"),
            label=lambda u, found: f"{found['region'].capitalize()} region",
        ),
        Rule(
            when=in_group_pattern("/sales/{region}"),
            allow=column_equals("salesman", from_user="username"),
            label="Your sales",
        ),
    ],
)


def expected(frame: pd.DataFrame, *, salesmen=(), regions=()) -> set[int]:
    """The ids a person should see, computed directly from the frame."""
    keep = frame["salesman"].isin(list(salesmen)) | frame["region"].isin(list(regions))
    return set(frame.loc[keep, "id"])


def ids(frame: pd.DataFrame, allowed: AllowedRows) -> set[int]:
    return set(frame.loc[allowed.mask(frame), "id"])


# ---------------------------------------------------------------- evaluation


def test_deny_by_default(frame):
    for nobody in (user("zed"), user("erin", groups=("/finance",)), user("x", roles=())):
        allowed = POLICY.evaluate(nobody)
        assert allowed.is_none and not allowed.is_all
        assert not allowed.mask(frame).any()
        assert allowed.select(frame).empty
        assert POLICY.where(allowed).sql == "1 = 0"


def test_anonymous_sees_nothing(frame):
    allowed = POLICY.evaluate(None)
    assert allowed.is_none
    assert not allowed.mask(frame).any()


def test_admin_all_rows_is_explicit_and_not_logged_per_evaluation(frame, caplog):
    # Every row is the result's to say (is_all); the app audits it once per view.
    with caplog.at_level(logging.DEBUG, logger="dash_appkit"):
        allowed = POLICY.evaluate(user("root", roles=("admin",)))
    assert allowed.is_all and allowed.label == "All regions (admin)"
    assert allowed.mask(frame).all()
    assert allowed.select(frame) is frame
    assert caplog.records == []
    assert POLICY.where(allowed) == ("1 = 1", [])


def test_allowed_to_asks_the_platforms_permission_table():
    # dash_appkit.roles is the platform's roles.py: its table decides, not a role name here.
    condition = allowed_to(Action.VIEW_DATA_AS_OTHERS)
    for roles in (("admin",), ("viewer",), ("licensed_user",), (), ("admin", "viewer")):
        who = user("x", roles=roles)
        assert bool(condition(who)) == can(who, Action.VIEW_DATA_AS_OTHERS), roles
    assert condition(user("root", roles=("admin",))) == [{}]
    assert allowed_to(Action.VIEW_AUDIT_LOG)(user("x", roles=("licensed_user",))) == []


def test_all_rows_only_through_all_rows():
    # A grant always carries a column constraint: nothing else can turn into "every row".
    with pytest.raises(ValueError):
        column_equals("region")
    with pytest.raises(ValueError):
        column_equals("region", value="east", from_user="username")
    assert AllowedRows(()).is_none


def test_salesman_sees_own_rows(frame):
    allowed = POLICY.evaluate(user("ann", groups=("/sales/east",)))
    assert allowed.label == "Your sales"
    assert ids(frame, allowed) == expected(frame, salesmen=["ann"])


def test_manager_sees_region_and_pattern_binds_each_group(frame):
    one = POLICY.evaluate(user("carl", groups=("/sales/east/managers",)))
    assert one.label == "East region"
    assert ids(frame, one) == expected(frame, regions=["east"])
    two = POLICY.evaluate(user("max", groups=("/sales/east/managers", "/sales/west/managers")))
    assert two.label == "East region + West region"
    assert ids(frame, two) == expected(frame, regions=["east", "west"])


def test_pattern_is_exact_unless_subgroups():
    deep = user("d", groups=("/sales/east/managers/senior",))
    assert in_group_pattern("/sales/{region}/managers")(deep) == []
    assert in_group_pattern("/sales/{region}/managers", subgroups=True)(deep) == [
        {"region": "east"}
    ]
    # /sales/{region} does not match the managers subgroup: managers are not salesmen.
    assert in_group_pattern("/sales/{region}")(user("c", groups=("/sales/east/managers",))) == []
    assert in_group("/sales")(deep) == [{}]
    assert in_group("/sales")(user("e", groups=("/salesforce",))) == []


def test_rules_union_without_duplicates(frame):
    both = user("cid", groups=("/sales/west", "/sales/east/managers"))
    allowed = POLICY.evaluate(both)
    assert allowed.label == "East region + Your sales"
    assert ids(frame, allowed) == expected(frame, salesmen=["cid"], regions=["east"])
    assert allowed.select(frame)["id"].is_unique


def test_final_rule_stops_evaluation():
    policy = RowPolicy(
        columns={"salesman"},
        rules=[
            Rule(when=in_group("/suspended"), allow=NO_ROWS, final=True),
            Rule(when=always, allow=column_equals("salesman", from_user="username")),
        ],
    )
    assert policy.evaluate(user("ann", groups=("/suspended",))).is_none
    assert not policy.evaluate(user("ann")).is_none


def test_missing_identity_value_grants_nothing():
    policy = RowPolicy(
        columns={"salesman"},
        rules=[Rule(when=always, allow=column_equals("salesman", from_user="username"))],
    )
    assert policy.evaluate(user("")).is_none
    assert policy.evaluate(user("  ")).is_none


def test_any_of_and_conjunction(frame):
    policy = RowPolicy(
        columns={"region", "product"},
        rules=[
            Rule(
                when=any_of(in_group_pattern("/a/{region}"), in_group_pattern("/b/{region}")),
                allow=column_equals("region", from_group="region")
                & column_equals("product", value="a"),
            )
        ],
    )
    allowed = policy.evaluate(user("x", groups=("/a/east", "/b/west")))
    want = set(frame.loc[frame["region"].isin(["east", "west"]) & (frame["product"] == "a"), "id"])
    assert ids(frame, allowed) == want


# ---------------------------------------------------------------- the value


def test_key_ignores_label_and_is_hashable():
    a = AllowedRows((Clause.of({"salesman": ["bob"]}),), "Your sales")
    b = AllowedRows((Clause.of({"salesman": ["bob"]}),), "bob's sales")
    assert a == b and a.key == b.key and hash(a) == hash(b)
    assert {a.key: 1}[b.key] == 1
    assert AllowedRows.all().key != AllowedRows.none().key


def test_normal_form_merges_and_absorbs():
    merged = AllowedRows(
        (
            Clause.of({"salesman": ["b"]}),
            Clause.of({"salesman": ["a"]}),
            Clause.of({"salesman": ["a"], "product": ["x"]}),  # implied by salesman = a
        )
    )
    assert merged.clauses == (Clause.of({"salesman": ["a", "b"]}),)
    assert AllowedRows((Clause.of({"region": ["e"]}), Clause())).is_all


@pytest.mark.parametrize("who", ["root", "ann", "carl", "zed"])
def test_narrow_never_widens(frame, who):
    people = {
        "root": user("root", roles=("admin",)),
        "ann": user("ann", groups=("/sales/east",)),
        "carl": user("carl", groups=("/sales/east/managers",)),
        "zed": user("zed"),
    }
    allowed = POLICY.evaluate(people[who])
    base = allowed.mask(frame)
    for column, values in [
        ("salesman", ["cid"]),
        ("salesman", ["ann", "cid"]),
        ("region", ["west"]),
        ("product", ["a", "b"]),
        ("product", []),
    ]:
        narrowed = allowed.narrow(column, values)
        got = narrowed.mask(frame)
        assert not (got & ~base).any(), (who, column, values)
        want = base & frame[column].isin(values).to_numpy()
        assert (got == want).all()
        assert narrowed.label == allowed.label


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


def test_duckdb_and_sqlite_return_the_pandas_rows(frame):
    plain = frame.assign(
        region=frame["region"].astype(str),
        salesman=frame["salesman"].astype(str),
        product=frame["product"].astype(str),
    )
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
