"""roles.can_view and roles.can as a table: who may open, and who may manage, an app.

Each row is (role set, access level, kind of grant) -> expected, written out by hand
from Dash Enterprise's permission tables and the contract, not computed by the code
under test. The user is always "bob"; the grant kinds place "bob" (or one of his groups)
in the app's owner / co-owner / viewer lists in the spellings people actually type.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from portal.identity import User
from portal.registry import AppRecord
from roles import AccessLevel, Action, AppAccess, can, can_view
from tests.unit.conftest_registry import app_record

UNAUTH, AUTH, RESTRICTED = (
    AccessLevel.UNAUTHENTICATED,
    AccessLevel.AUTHENTICATED,
    AccessLevel.RESTRICTED,
)


@dataclass(frozen=True)
class FakeApp:
    """Grants exactly as written (not normalised): roles must cope with raw spellings."""

    access: AccessLevel
    owner: str | None = "zed"
    co_owner_users: frozenset[str] = frozenset()
    co_owner_groups: frozenset[str] = frozenset()
    viewer_users: frozenset[str] = frozenset()
    viewer_groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Grant:
    """How the app names bob, and which groups bob is in."""

    app: dict = field(default_factory=dict)
    groups: tuple[str, ...] = ("/sales/east",)
    username: str = "bob"


GRANTS: dict[str, Grant] = {
    "none": Grant(),
    "owner": Grant({"owner": "bob"}),
    "owner_case": Grant({"owner": "BOB"}),
    "co_owner_user": Grant({"co_owner_users": {"bob"}}),
    "co_owner_group": Grant({"co_owner_groups": {"/sales/east"}}),
    "co_owner_parent_group": Grant({"co_owner_groups": {"/sales"}}),
    "viewer_user": Grant({"viewer_users": {"bob"}}),
    "viewer_group": Grant({"viewer_groups": {"/sales/east"}}),
    # A grant to a group covers its subgroups.
    "parent_group": Grant({"viewer_groups": {"/sales"}}, groups=("/sales/east/managers",)),
    # ...but a sibling that merely shares a prefix is not a subgroup.
    "sibling_group": Grant({"viewer_groups": {"/sales/east"}}, groups=("/sales/eastern",)),
    "sibling_co_owner_group": Grant(
        {"co_owner_groups": {"/sales/east"}}, groups=("/sales/eastern",)
    ),
    # A subgroup's grant does not cover the parent group's members.
    "child_group": Grant({"viewer_groups": {"/sales/east/managers"}}, groups=("/sales/east",)),
    # Usernames compare case-insensitively, both ways round.
    "viewer_user_upper": Grant({"viewer_users": {"BOB"}}),
    "viewer_user_mixed_user": Grant({"viewer_users": {"bob"}}, username="Bob"),
    "viewer_user_spaces": Grant({"viewer_users": {" bob "}}),
    # Keycloak group names are case-sensitive: /Sales is another group than /sales.
    "group_case": Grant({"viewer_groups": {"/Sales/East"}}),
    "trailing_slash": Grant({"viewer_groups": {"/sales/east/"}}),
    "no_leading_slash": Grant({"viewer_groups": {"sales"}}),
    # A grant to the root path is no grant at all.
    "root_group": Grant({"viewer_groups": {"/"}}),
}

ROLE_SETS: dict[str, frozenset[str] | None] = {
    "anonymous": None,
    "viewer": frozenset({"viewer"}),
    "licensed": frozenset({"viewer", "licensed_user"}),
    "admin": frozenset({"viewer", "admin"}),
    "admin_licensed": frozenset({"viewer", "admin", "licensed_user"}),
}

# Grant kinds that make bob an owner/co-owner: they count only with a seat.
OWNERSHIP = {"owner", "owner_case", "co_owner_user", "co_owner_group", "co_owner_parent_group"}
# Grant kinds that make bob a viewer of a Restricted app, whatever his roles.
VIEWING = {
    "viewer_user",
    "viewer_group",
    "parent_group",
    "viewer_user_upper",
    "viewer_user_mixed_user",
    "viewer_user_spaces",
    "trailing_slash",
    "no_leading_slash",
}
NOTHING = {
    "none",
    "sibling_group",
    "sibling_co_owner_group",
    "child_group",
    "group_case",
    "root_group",
}
assert set(GRANTS) == OWNERSHIP | VIEWING | NOTHING

# may bob open a Restricted app?  role set -> grant kinds that let him in
RESTRICTED_VIEW: dict[str, set[str]] = {
    "anonymous": set(),
    "viewer": VIEWING,  # an owner who lost (or never had) a seat is not an owner
    "licensed": VIEWING | OWNERSHIP,
    "admin": set(GRANTS),
    "admin_licensed": set(GRANTS),
}
# may bob manage (App Info, viewer access, portal settings, co-owners) the app?
MANAGE: dict[str, set[str]] = {
    "anonymous": set(),
    "viewer": set(),
    "licensed": OWNERSHIP,
    "admin": set(GRANTS),
    "admin_licensed": set(GRANTS),
}
PER_APP_ACTIONS = (
    Action.VIEW_APP_INFO,
    Action.CONFIGURE_VIEWER_ACCESS,
    Action.USE_VIEWER_ANALYTICS,
    Action.EDIT_PORTAL_SETTINGS,
    Action.ADD_CO_OWNERS,
    Action.OPEN_RESTRICTED_APP,  # whatever the viewer lists say (those: test_can_view)
)


def _case(role_set: str, grant_name: str, access: AccessLevel) -> tuple[User | None, FakeApp]:
    grant = GRANTS[grant_name]
    roles = ROLE_SETS[role_set]
    user = (
        None
        if roles is None
        else User(sub="s-bob", username=grant.username, roles=roles, groups=frozenset(grant.groups))
    )
    values = {k: frozenset(v) if isinstance(v, set) else v for k, v in grant.app.items()}
    return user, FakeApp(access=access, **values)


def _expected_view(role_set: str, grant_name: str, access: AccessLevel) -> bool:
    if access == UNAUTH:
        return True
    if role_set == "anonymous":
        return False
    if access == AUTH:
        return True
    return grant_name in RESTRICTED_VIEW[role_set]


TABLE = [
    pytest.param(role_set, grant_name, access, id=f"{role_set}-{access.value}-{grant_name}")
    for role_set in ROLE_SETS
    for access in (UNAUTH, AUTH, RESTRICTED)
    for grant_name in GRANTS
]


@pytest.mark.parametrize(("role_set", "grant_name", "access"), TABLE)
def test_can_view(role_set: str, grant_name: str, access: AccessLevel) -> None:
    user, app = _case(role_set, grant_name, access)
    assert can_view(user, app) is _expected_view(role_set, grant_name, access)


@pytest.mark.parametrize(("role_set", "grant_name", "access"), TABLE)
def test_can_manage(role_set: str, grant_name: str, access: AccessLevel) -> None:
    user, app = _case(role_set, grant_name, access)
    expected = grant_name in MANAGE[role_set]  # managing does not depend on the access level
    for action in PER_APP_ACTIONS:
        assert can(user, action, app) is expected, action


#: The per-app actions that the admin role alone grants, on every app.
ON_ANY_APP = {
    Action.VIEW_APP_INFO,
    Action.CONFIGURE_VIEWER_ACCESS,
    Action.USE_VIEWER_ANALYTICS,
    Action.EDIT_PORTAL_SETTINGS,
    Action.ADD_CO_OWNERS,
    Action.OPEN_RESTRICTED_APP,
    Action.OPERATE_APP,
    Action.SET_MEMORY_LIMIT,
}
LICENSED = {Action.VIEW_PORTAL, Action.VIEW_APP_MANAGER, Action.INITIALIZE_APP, Action.OWN_APP}
ADMIN = {
    Action.VIEW_PORTAL,
    Action.VIEW_APP_MANAGER,
    Action.VIEW_LICENSE_SEATS,
    Action.VIEW_USERS_AND_ACTIVITY,
    Action.TRANSFER_APPS,
    Action.CONFIGURE_VIEWER_ACCESS_POLICY,
    Action.SIGN_OUT_USERS,
    Action.VIEW_AUDIT_LOG,
    Action.VIEW_DATA_AS_OTHERS,
    *ON_ANY_APP,
}


@pytest.mark.parametrize(
    ("role_set", "allowed"),
    [
        ("anonymous", set()),
        ("viewer", {Action.VIEW_PORTAL}),
        ("licensed", LICENSED),
        ("admin", ADMIN),  # not DEPLOY_APP: an admin deploys only with a seat (seed 002)
        ("admin_licensed", LICENSED | ADMIN | {Action.DEPLOY_APP}),
    ],
)
def test_what_roles_alone_allow(role_set: str, allowed: set[Action]) -> None:
    """Dash Enterprise's first table (e.g. only licensed users initialize apps, not admins),
    and ``can`` without an app: the per-app actions the roles grant on every app."""
    roles = ROLE_SETS[role_set]
    user = None if roles is None else User(sub="s", username="bob", roles=roles)
    for action in Action:
        assert can(user, action) is (action in allowed), action


def test_owner_who_lost_the_seat_is_no_longer_owner() -> None:
    app = FakeApp(access=RESTRICTED, owner="alice", co_owner_users=frozenset({"carol"}))
    with_seat = User(sub="a", username="alice", roles=frozenset({"viewer", "licensed_user"}))
    without_seat = User(sub="a", username="alice", roles=frozenset({"viewer"}))
    assert can_view(with_seat, app)
    assert can(with_seat, Action.CONFIGURE_VIEWER_ACCESS, app)
    assert not can_view(without_seat, app)
    assert not can(without_seat, Action.CONFIGURE_VIEWER_ACCESS, app)
    carol = User(sub="c", username="carol", roles=frozenset({"viewer"}))
    assert not can(carol, Action.ADD_CO_OWNERS, app)  # a co-owner needs a seat too


def test_unknown_roles_and_levels_grant_nothing() -> None:
    odd = User(sub="x", username="bob", roles=frozenset({"superuser", "ADMIN", "Admin"}))
    app = FakeApp(access=RESTRICTED)
    assert not can_view(odd, app)
    assert not can(odd, Action.TRANSFER_APPS)
    assert not can(odd, Action.VIEW_APP_INFO, app)


def test_app_record_is_app_access() -> None:
    """The registry's records go straight into roles (structural protocol)."""
    record: AppRecord = replace(
        app_record(owner="alice"),
        viewer_users=frozenset({"bob"}),
        viewer_groups=frozenset({"/finance"}),
    )
    as_protocol: AppAccess = record
    bob = User(sub="b", username="Bob", roles=frozenset({"viewer"}))
    erin = User(
        sub="e", username="erin", roles=frozenset({"viewer"}), groups=frozenset({"/finance"})
    )
    dave = User(sub="d", username="dave", roles=frozenset({"viewer"}))
    assert can_view(bob, as_protocol)
    assert can_view(erin, as_protocol)
    assert not can_view(dave, as_protocol)
