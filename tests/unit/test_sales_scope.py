"""The scope of each sales request: an admin's "view as", and every row audited once per view."""

from __future__ import annotations

import time

import pytest
from dash_appkit import platform
from dash_appkit.identity import User
from flask import Flask

from app.sales.salesapp import data as sales_data
from app.sales.salesapp.policy import ALL_ROWS_EVENT, SALES_POLICY, ViewAs, may_view_as_others
from tests.unit.demo import CONTRACT_USERS, DEMO_USERS
from tests.unit.identity_headers import identity_headers

#: The contract's demo users, exactly: roles of client dash and groups.
DEMO = {name: DEMO_USERS[name] for name in CONTRACT_USERS}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return sales_data.load(tmp_path_factory.mktemp("sales"), 20_000)


@pytest.fixture
def audit_events(monkeypatch) -> list[tuple]:
    """dash_appkit.platform.record_event, replaced: the events view-as records."""
    events: list[tuple] = []

    def record(action: str, target: str, *, actor: str, detail: dict) -> None:
        events.append((actor, action, target, detail))

    monkeypatch.setattr(platform, "record_event", record)
    return events


def scope_as(view_as: ViewAs, who: str | None, value):
    """The scope of a request that the front door says comes from ``who``."""
    headers = identity_headers(DEMO.get(who) if who else None)
    with Flask(__name__).test_request_context(headers=headers):
        return view_as.scope(value)


def test_admin_views_as_a_user_and_it_is_audited(data, audit_events):
    view_as = ViewAs(data.region_of())
    scope = scope_as(view_as, "admin", "user:bob")
    assert scope.viewing_as == "bob" and scope.banner == "Viewing as bob"
    assert scope.allowed == SALES_POLICY.evaluate(DEMO["bob"])
    detail = {"app": "sales", "via": "dashboard", "rows": "Your sales"}
    assert audit_events == [("admin", "app.view_as", "user:bob", detail)]
    scope_as(view_as, "admin", "user:BOB")  # the same view again: not flooded
    assert len(audit_events) == 1
    group = scope_as(view_as, "admin", "group:/sales/west/managers")
    assert group.allowed == SALES_POLICY.evaluate(
        User(username="x", groups=frozenset({"/sales/west/managers"}))
    )
    assert group.banner == "Viewing as /sales/west/managers" and group.detail == "West region"
    assert audit_events[-1][2] == "group:/sales/west/managers"


@pytest.mark.parametrize("who", ["bob", "carol", "alice", "dave"])
@pytest.mark.parametrize(
    "value", ["user:frank", "user:admin", "group:/sales/west/managers", "admin"]
)
def test_non_admins_cannot_view_as(data, audit_events, who, value):
    scope = scope_as(ViewAs(data.region_of()), who, value)
    assert scope.viewing_as is None
    assert scope.allowed == SALES_POLICY.evaluate(DEMO[who])
    assert audit_events == []


@pytest.mark.parametrize(
    "value", ["user:nobody", "group:/finance", "group:/sales", 7, ["user:bob"], "bob"]
)
def test_unknown_view_as_values_are_ignored(data, audit_events, value):
    scope = scope_as(ViewAs(data.region_of()), "admin", value)
    assert scope.viewing_as is None and scope.allowed.is_all
    assert [event[1] for event in audit_events] == [ALL_ROWS_EVENT]  # the admin's own view


@pytest.mark.parametrize(
    "failure", [platform.PlatformError("HTTP 503"), RuntimeError("anything else"), OSError()]
)
def test_view_as_is_refused_when_it_cannot_be_audited(data, monkeypatch, failure):
    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(platform, "record_event", broken)
    scope = scope_as(ViewAs(data.region_of()), "admin", "user:bob")
    assert scope.viewing_as is None and scope.allowed.is_all


def test_view_as_is_refused_when_the_platform_is_not_configured(data, monkeypatch):
    # The real client, with no platform to talk to (a local run): refused, not unaudited.
    monkeypatch.delenv("DASH_PLATFORM_URL", raising=False)
    monkeypatch.delenv("DASH_PLATFORM_APP_TOKEN", raising=False)
    scope = scope_as(ViewAs(data.region_of()), "admin", "user:bob")
    assert scope.viewing_as is None and scope.allowed.is_all


def test_view_as_and_every_row_follow_the_platforms_permission_table(monkeypatch):
    # The app asks roles.py (shipped as dash_appkit.roles): a change to its table is enough.
    from dash_appkit import roles

    assert roles.PERMISSIONS[roles.Action.VIEW_DATA_AS_OTHERS] == {"admin"}
    for name, user in DEMO_USERS.items():
        allowed = roles.can(user, roles.Action.VIEW_DATA_AS_OTHERS)
        assert may_view_as_others(user) == allowed, name
        assert SALES_POLICY.evaluate(user).is_all == allowed, name
    assert may_view_as_others(None) is False
    monkeypatch.setitem(
        roles.PERMISSIONS, roles.Action.VIEW_DATA_AS_OTHERS, frozenset({roles.Role.VIEWER})
    )
    assert may_view_as_others(DEMO["bob"]) and SALES_POLICY.evaluate(DEMO["bob"]).is_all
    root = User(username="root", roles=frozenset({"admin"}))
    assert not may_view_as_others(root) and not SALES_POLICY.evaluate(root).is_all


def test_every_row_is_audited_once_per_view(data, audit_events, monkeypatch):
    view_as = ViewAs(data.region_of(), window=600)
    for _ in range(50):  # the page load, then a storm of callbacks
        assert scope_as(view_as, "admin", None).allowed.is_all
    detail = {"app": "sales", "via": "dashboard", "rows": "All regions (admin)"}
    assert audit_events == [("admin", ALL_ROWS_EVENT, "all rows", detail)]
    for who in ("alice", "bob", "carol", "frank", "dave"):
        scope_as(view_as, who, None)
    assert len(audit_events) == 1
    later = time.monotonic() + 601  # the same view, ten minutes on: recorded again
    monkeypatch.setattr(time, "monotonic", lambda: later)
    scope_as(view_as, "admin", None)
    assert len(audit_events) == 2


def test_every_row_stays_the_admins_when_it_cannot_be_audited(data, monkeypatch):
    attempts = []

    def broken(*args, **kwargs):
        attempts.append(args)
        raise platform.PlatformError("HTTP 503")

    monkeypatch.setattr(platform, "record_event", broken)
    view_as = ViewAs(data.region_of(), window=600, retry=30)
    for _ in range(20):  # a callback storm while the platform is away: one attempt
        assert scope_as(view_as, "admin", None).allowed.is_all
    assert len(attempts) == 1
    later = time.monotonic() + 31
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert scope_as(view_as, "admin", None).allowed.is_all
    assert len(attempts) == 2  # tried again, retry seconds later
    assert scope_as(view_as, "admin", "user:bob").viewing_as is None  # view-as: refused
    assert len(attempts) == 3


def test_anonymous_has_no_scope(data):
    assert scope_as(ViewAs(data.region_of()), None, "user:bob") is None
