"""The policy, people and frame the dash_appkit.rls tests share (test_rls*.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from dash_appkit.identity import User
from dash_appkit.rls import (
    ALL_ROWS,
    AllowedRows,
    RowPolicy,
    Rule,
    column_equals,
    has_role,
    in_group_pattern,
)

__all__ = ["PEOPLE", "POLICY", "REGIONS", "expected", "ids", "sample_frame", "user"]

REGIONS = ["east", "west", "north", "south"]
PEOPLE = {"ann": "east", "ben": "east", "cid": "west", "dee": "north", "eve": "south"}


def user(name: str, *, roles: tuple[str, ...] = ("viewer",), groups: tuple[str, ...] = ()) -> User:
    return User(username=name, roles=frozenset(roles), groups=frozenset(groups))


def sample_frame() -> pd.DataFrame:
    """400 rows of five people in four regions, with an ``id`` to compare row sets by."""
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
