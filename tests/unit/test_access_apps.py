"""roles.can on one app's operations and settings, as tables written out by hand.

Seed 002 (Dash Enterprise's table of app operations): who deploys, operates and limits
an app; and ``roles.FIELD_ACTIONS``: who may change each setting the registry accepts.
The user is always "bob" (or the admin "root"), related to the app as each row says.
"""

from __future__ import annotations

import pytest

from portal.identity import User
from portal.registry import AppRecord
from roles import FIELD_ACTIONS, Action, can, can_change
from tests.unit.conftest_registry import app_record

#: Who may change each setting of an app: (an owner or co-owner with a seat, an admin).
FIELD_RIGHTS: dict[str, tuple[bool, bool]] = {
    "access": (True, True),
    "viewers": (True, True),
    "co_owners": (True, True),
    "visible_in_portal": (True, True),
    "title": (True, True),
    "description": (True, True),
    "tags": (True, True),
    "thumbnail": (True, True),
    "workers": (True, True),
    "idle_timeout_s": (True, True),
    "memory_limit_mb": (False, True),  # seed 002: the admins' alone
}


def test_who_may_change_each_field() -> None:
    """Every setting the registry accepts, and who may change it."""
    assert set(FIELD_RIGHTS) == set(FIELD_ACTIONS)
    licensed = User(sub="s", username="bob", roles=frozenset({"licensed_user"}))
    unseated = User(sub="s", username="bob", roles=frozenset({"viewer"}))
    admin = User(sub="r", username="root", roles=frozenset({"admin"}))
    for name, (owners_may, admins_may) in FIELD_RIGHTS.items():
        for relation in ("owner", "co_owner"):
            assert can_change(licensed, name, _app_for(relation)) is owners_may, name
        assert can_change(admin, name, _app_for(None)) is admins_may, name
        assert not can_change(unseated, name, _app_for("owner")), name
        assert not can_change(licensed, name, _app_for(None)), name
        assert not can_change(None, name, _app_for(None)), name
    # Ownership moves only through a transfer; a field nobody listed is nobody's.
    assert not can_change(admin, "owner", _app_for(None))
    assert not can_change(admin, "slug", _app_for(None))


@pytest.mark.parametrize(
    ("roles", "relation", "allowed"),
    [
        (frozenset({"licensed_user"}), "owner", True),
        (frozenset({"licensed_user"}), "co_owner", True),
        (frozenset({"admin", "licensed_user"}), None, True),
        (frozenset({"admin"}), None, False),  # seed 002: admin deploys only with a seat
        (frozenset({"viewer"}), "owner", False),  # ownership needs the seat
        (frozenset({"licensed_user"}), None, False),
    ],
)
def test_deploy_follows_seed_002(
    roles: frozenset[str], relation: str | None, allowed: bool
) -> None:
    user = User(sub="s", username="bob", roles=roles)
    app = _app_for(relation)
    assert can(user, Action.DEPLOY_APP, app) is allowed


@pytest.mark.parametrize(
    ("roles", "relation", "operate", "memory"),
    [
        (frozenset({"licensed_user"}), "owner", True, False),
        (frozenset({"licensed_user"}), "co_owner", True, False),
        (frozenset({"admin"}), None, True, True),  # seed 002: admins run every app
        (frozenset({"admin", "licensed_user"}), None, True, True),
        (frozenset({"licensed_user"}), None, False, False),
        (frozenset({"viewer"}), "owner", False, False),  # no seat: not an owner
    ],
)
def test_operations_follow_seed_002(roles, relation, operate: bool, memory: bool) -> None:
    user = User(sub="s", username="bob", roles=roles)
    app = _app_for(relation)
    assert can(user, Action.OPERATE_APP, app) is operate
    assert can(user, Action.SET_MEMORY_LIMIT, app) is memory


def _app_for(relation: str | None) -> AppRecord:
    return app_record(
        owner="bob" if relation == "owner" else "alice",
        co_owner_users={"bob"} if relation == "co_owner" else (),
    )
