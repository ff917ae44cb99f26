"""dash_appkit.rls policies as data: deny by default, rules, the normal form's value."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from dash_appkit.rls import (
    NO_ROWS,
    AllowedRows,
    Clause,
    RowPolicy,
    Rule,
    allowed_to,
    always,
    any_of,
    column_equals,
    in_group,
    in_group_pattern,
)
from dash_appkit.roles import Action, can

from tests.unit.rls_cases import POLICY, expected, ids, sample_frame, user


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return sample_frame()


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
