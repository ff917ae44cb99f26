"""The app registry: seeding, validation, atomic writes, ownership, policy, audit, cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import func, inspect, select, text

from portal import audit, create_app, registry
from portal.extensions import db
from portal.registry import (
    Conflict,
    Forbidden,
    Invalid,
    Malformed,
    NotFound,
    RegistryError,
)
from portal.registry.database import UNMANAGED_TABLES, alembic_config
from portal.registry.models import App, AppView, AuditEvent, utcnow
from portal.unit_of_work import in_unit_of_work, unit_of_work
from roles import AccessLevel
from tests.unit.conftest_registry import ON_BOTH_ENGINES, make_app, make_settings
from tests.unit.demo import DEMO_USERS, user

ADMIN, ALICE, BOB = DEMO_USERS["admin"], DEMO_USERS["alice"], DEMO_USERS["bob"]


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


def audit_count() -> int:
    return db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


# --- seeding ------------------------------------------------------------------------------


@ON_BOTH_ENGINES
def test_seeds_the_contract_apps(ctx: Flask) -> None:
    apps = {r.slug: r for r in registry.list_apps()}
    assert set(apps) == {"sales", "hello", "public", "finance"}
    assert (apps["sales"].owner, apps["sales"].access) == ("alice", AccessLevel.RESTRICTED)
    assert apps["sales"].viewer_groups == {"/sales"}
    assert (apps["hello"].owner, apps["hello"].access) == ("admin", AccessLevel.AUTHENTICATED)
    assert (apps["public"].owner, apps["public"].access) == ("admin", AccessLevel.UNAUTHENTICATED)
    assert (apps["finance"].owner, apps["finance"].access) == ("erin", AccessLevel.RESTRICTED)
    assert apps["finance"].viewer_groups == {"/finance"}
    assert all(r.visible_in_portal and r.title and r.description and r.tags for r in apps.values())
    assert [e["action"] for e in audit.recent()] == ["app.seed"] * 4


@ON_BOTH_ENGINES
def test_seeding_is_idempotent(tmp_path: Path, database_url: str) -> None:
    make_app(tmp_path, database_url=database_url)
    app = make_app(tmp_path, database_url=database_url)  # a restart: upgrade and seed again
    with app.app_context():
        assert len(registry.list_apps()) == 4
        assert db.session.execute(select(func.count()).select_from(App)).scalar_one() == 4
        assert audit_count() == 4
        assert registry.seed_default_apps() == []


@ON_BOTH_ENGINES
def test_seeding_keeps_edits(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url=database_url)
    with app.app_context():
        registry.update_app("sales", {"title": "Sales (edited)"}, actor=ALICE)
    with make_app(tmp_path, database_url=database_url).app_context():
        assert registry.get_app("sales").title == "Sales (edited)"


@ON_BOTH_ENGINES
def test_the_app_factory_leaves_the_database_alone(tmp_path: Path, database_url: str) -> None:
    """A gunicorn worker builds the app and never migrates: that is ``flask db upgrade``.

    (Flask-Session creates its own table, which no migration manages.)"""
    app = create_app(make_settings(tmp_path, database_url=database_url))
    with app.app_context():
        assert set(inspect(db.engine).get_table_names()) <= UNMANAGED_TABLES


@ON_BOTH_ENGINES
def test_flask_db_upgrade_brings_the_schema_to_head(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path, seed_apps=False, database_url=database_url))
    done = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert done.exit_code == 0, done.output
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert {"apps", "app_grants", "audit_events", "alembic_version"} <= tables
        head = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert head == ScriptDirectory.from_config(alembic_config()).get_current_head()


@ON_BOTH_ENGINES
def test_no_seeding_when_disabled(tmp_path: Path, database_url: str) -> None:
    with make_app(tmp_path, seed=False, database_url=database_url).app_context():
        assert registry.list_apps() == []
        assert registry.get_app("sales") is None


# --- reading ------------------------------------------------------------------------------


@ON_BOTH_ENGINES
@pytest.mark.parametrize(
    ("who", "slugs"),
    [
        (None, ["public"]),
        ("bob", ["hello", "public", "sales"]),
        ("carol", ["hello", "public", "sales"]),  # /sales/east/managers under /sales
        ("frank", ["hello", "public", "sales"]),
        ("dave", ["hello", "public"]),
        ("erin", ["finance", "hello", "public"]),
        ("alice", ["hello", "public", "sales"]),
        ("admin", ["finance", "hello", "public", "sales"]),
    ],
)
def test_apps_visible_to(ctx: Flask, who: str | None, slugs: list[str]) -> None:
    found = registry.apps_visible_to(DEMO_USERS[who] if who else None)
    assert sorted(r.slug for r in found) == slugs


@ON_BOTH_ENGINES
def test_hidden_apps_leave_the_portal_but_stay_open(ctx: Flask) -> None:
    registry.update_app("hello", {"visible_in_portal": False}, actor=ADMIN)
    assert "hello" not in [r.slug for r in registry.apps_visible_to(BOB)]
    assert registry.get_app("hello") is not None


@ON_BOTH_ENGINES
def test_apps_managed_by(ctx: Flask) -> None:
    assert [r.slug for r in registry.apps_managed_by(ALICE)] == ["sales"]
    assert [r.slug for r in registry.apps_managed_by(BOB)] == []
    assert len(registry.apps_managed_by(ADMIN)) == 4
    assert len(registry.apps_managed_by(DEMO_USERS["root"])) == 4  # admin without a seat
    registry.update_app("sales", {"co_owners": {"groups": ["/finance"]}}, actor=ALICE)
    assert [r.slug for r in registry.apps_managed_by(DEMO_USERS["erin"])] == ["finance", "sales"]
    alice_unseated = user("alice", groups=["/sales/east"])
    assert registry.apps_managed_by(alice_unseated) == []


@ON_BOTH_ENGINES
def test_ownerless_apps(ctx: Flask) -> None:
    assert [r.slug for r in registry.ownerless_apps({"admin", "Alice"})] == ["finance"]
    assert registry.ownerless_apps({"admin", "alice", "erin"}) == []


def test_cache_sees_writes_of_other_processes(tmp_path: Path) -> None:
    """Two apps on one database stand for two workers: each has its own cache."""
    worker_a, worker_b = make_app(tmp_path), make_app(tmp_path)
    with worker_b.app_context():
        assert registry.get_app("sales").title == "Sales"
        assert len(registry.apps_visible_to(DEMO_USERS["dave"])) == 2
    with worker_a.app_context():
        registry.update_app(
            "sales", {"title": "Sales 2", "viewers": {"users": ["dave"]}}, actor=ALICE
        )
    with worker_b.app_context():
        assert registry.get_app("sales").title == "Sales 2"
        assert "sales" in [r.slug for r in registry.apps_visible_to(DEMO_USERS["dave"])]


@ON_BOTH_ENGINES
def test_unknown_slug_is_none_until_registered(ctx: Flask) -> None:
    assert registry.get_app("reports") is None
    registry.initialize_app("reports", owner=DEMO_USERS["gina"])
    assert registry.get_app("reports").owner == "gina"


# --- update_app ---------------------------------------------------------------------------


UPLOADED = "/thumbnails/" + "ab" * 32 + ".png"  # an uploaded image's path


@ON_BOTH_ENGINES
def test_update_normalises(ctx: Flask) -> None:
    record = registry.update_app(
        "sales",
        {
            "title": "  Sales figures ",
            "access": "Authenticated",
            "viewers": {"users": ["Bob", " DAVE "], "groups": ["sales/east/", "/finance"]},
            "co_owners": {"users": ["Gina"]},
            "tags": ["Sales", "sales", " east "],
            "description": "New.",
            "thumbnail": UPLOADED,
            "visible_in_portal": False,
        },
        actor=ALICE,
    )
    assert record.title == "Sales figures"
    assert record.access == AccessLevel.AUTHENTICATED
    assert record.viewer_users == {"bob", "dave"}
    assert record.viewer_groups == {"/sales/east", "/finance"}
    assert record.co_owner_users == {"gina"}
    assert record.tags == ("Sales", "east")
    assert record.thumbnail == UPLOADED
    assert registry.get_app("sales") == record


@ON_BOTH_ENGINES
def test_update_replaces_only_the_given_list(ctx: Flask) -> None:
    registry.update_app("sales", {"viewers": {"users": ["bob"]}}, actor=ALICE)
    record = registry.get_app("sales")
    assert (record.viewer_users, record.viewer_groups) == ({"bob"}, {"/sales"})
    record = registry.update_app("sales", {"viewers": {"groups": []}}, actor=ALICE)
    assert (record.viewer_users, record.viewer_groups) == ({"bob"}, frozenset())


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        (["title"], Malformed),
        ("title=x", Malformed),
        ({"owner": "bob"}, Malformed),  # ownership moves only through transfer_owner
        ({"slug": "other"}, Malformed),
        ({"viewers": {"users": [], "admins": []}}, Malformed),
        ({"title": ""}, Invalid),
        ({"title": "   "}, Invalid),
        ({"title": 7}, Invalid),
        ({"title": "x" * 121}, Invalid),
        ({"description": 5}, Invalid),
        ({"access": "public"}, Invalid),
        ({"access": 1}, Invalid),
        ({"visible_in_portal": "yes"}, Invalid),
        ({"visible_in_portal": 1}, Invalid),
        ({"tags": "sales"}, Invalid),
        ({"tags": [1]}, Invalid),
        ({"tags": [""]}, Invalid),
        ({"tags": [f"t{i}" for i in range(21)]}, Invalid),
        ({"viewers": []}, Invalid),
        ({"viewers": {"users": "bob"}}, Invalid),
        ({"viewers": {"users": ["bad name"]}}, Invalid),
        ({"viewers": {"users": [""]}}, Invalid),
        ({"viewers": {"groups": ["/"]}}, Invalid),
        ({"viewers": {"groups": [None]}}, Invalid),
        ({"co_owners": {"users": [None]}}, Invalid),
        ({"thumbnail": "javascript:alert(1)"}, Invalid),
        ({"thumbnail": "//evil.example/x.png"}, Invalid),
        # Only images the platform hosts (uploads): no outside URL, no other local path.
        ({"thumbnail": "https://evil.example/pixel.png"}, Invalid),
        ({"thumbnail": "/\\evil.example/x.png"}, Invalid),
        ({"thumbnail": "/static/sales.png"}, Invalid),
        ({"thumbnail": "/thumbnails/../secret_key"}, Invalid),
        ({"thumbnail": "/thumbnails/" + "ab" * 32 + ".svg"}, Invalid),
    ],
)
def test_update_rejects(ctx: Flask, changes: object, kind: type[RegistryError]) -> None:
    with pytest.raises(RegistryError) as refused:
        registry.update_app("sales", changes, actor=ALICE)  # type: ignore[arg-type]
    assert type(refused.value) is kind
    assert refused.value.message


HIDDEN = {
    "\u202e": "U+202E RIGHT-TO-LEFT OVERRIDE",
    "\u2066": "U+2066 LEFT-TO-RIGHT ISOLATE",
    "\u200f": "U+200F RIGHT-TO-LEFT MARK",
    "\u200b": "U+200B ZERO WIDTH SPACE",
    "\u2060": "U+2060 WORD JOINER",
    "\ufeff": "U+FEFF ZERO WIDTH NO-BREAK SPACE",
    "\u00ad": "U+00AD SOFT HYPHEN",
    "\u3164": "U+3164 HANGUL FILLER",
    "\u2028": "U+2028 LINE SEPARATOR",
    "\x1b": "U+001B",
    "\x7f": "U+007F",
    "\ue000": "U+E000",
    "\U000e0041": "U+E0041 TAG LATIN CAPITAL LETTER A",
}


def _hide(value: object, char: str) -> object:
    if isinstance(value, str):
        return value.format(char)
    if isinstance(value, list):
        return [_hide(i, char) for i in value]
    return {k: _hide(i, char) for k, i in value.items()}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "value", "char"),
    [
        *[("title", "Sa{}les", char) for char in HIDDEN],
        *[
            (field, value, char)
            for char in ("\u202e", "\u200b", "\x1b")
            for field, value in [
                ("description", "Sales{} by region"),
                ("tags", ["sa{}les"]),
                ("viewers", {"users": ["bo{}b"]}),
                ("viewers", {"groups": ["/sa{}les"]}),
                ("co_owners", {"users": ["er{}in"]}),
                ("thumbnail", "/static/{}x.png"),
            ]
        ],
    ],
)
def test_text_with_control_bidi_or_invisible_characters_is_refused(
    ctx: Flask, field: str, value: object, char: str
) -> None:
    before = registry.get_app("sales")
    with pytest.raises(RegistryError) as refused:
        registry.update_app("sales", {field: _hide(value, char)}, actor=ADMIN)
    assert isinstance(refused.value, Invalid)
    assert refused.value.message.startswith(field)
    if field in ("title", "description", "tags"):
        assert HIDDEN[char] in refused.value.message
    assert registry.get_app("sales") == before


@ON_BOTH_ENGINES
def test_text_may_hold_accents_scripts_emoji_and_description_line_breaks(ctx: Flask) -> None:
    record = registry.update_app(
        "sales",
        {
            "title": "Ventes régionales 売上 \u0627\u0644\u0645\u0628\u064a\u0639\u0627\u062a 📈",
            "description": "Line one\nLine two\r\n\tindented",
            "tags": ["e\u0301t\u00e9", "naïve"],
        },
        actor=ADMIN,
    )
    assert record.title.endswith("📈") and "\n" in record.description


@ON_BOTH_ENGINES
def test_failed_write_changes_nothing(ctx: Flask) -> None:
    before, version, events = registry.get_app("sales"), registry.registry_version(), audit_count()
    with pytest.raises(RegistryError) as refused:
        registry.update_app("sales", {"title": "New title", "access": "bogus"}, actor=ALICE)
    assert isinstance(refused.value, Invalid)
    assert "access" in refused.value.message
    db.session.expire_all()
    assert registry.get_app("sales") == before
    assert registry.registry_version() == version
    assert audit_count() == events


@ON_BOTH_ENGINES
def test_failing_audit_rolls_the_change_back(ctx: Flask, monkeypatch) -> None:
    before, events = registry.get_app("sales"), audit_count()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        registry.update_app("sales", {"title": "New title"}, actor=ALICE)
    monkeypatch.undo()
    assert registry.get_app("sales") == before
    assert audit_count() == events


@ON_BOTH_ENGINES
def test_update_writes_audit_with_before_and_after(ctx: Flask) -> None:
    registry.update_app(
        "sales", {"title": "Sales 2", "access": "restricted", "tags": ["sales"]}, actor=ALICE
    )
    [event] = audit.recent(1, target="app:sales")
    assert (event["actor"], event["action"]) == ("alice", "app.update")
    # Only what changed: access was already restricted.
    assert event["before"] == {"title": "Sales", "tags": ["sales", "row-level security"]}
    assert event["after"] == {"title": "Sales 2", "tags": ["sales"]}


@ON_BOTH_ENGINES
def test_no_op_update_writes_nothing(ctx: Flask) -> None:
    version, events = registry.registry_version(), audit_count()
    registry.update_app("sales", {"title": "Sales", "access": "restricted"}, actor=ALICE)
    registry.update_app("sales", {}, actor=ALICE)
    assert (registry.registry_version(), audit_count()) == (version, events)


@pytest.mark.parametrize(
    ("who", "changes"),
    [
        (BOB, {"title": "x"}),  # a viewer of the app
        (DEMO_USERS["erin"], {"title": "x"}),  # owns another app
        (user("alice", groups=["/sales/east"]), {"title": "x"}),  # the owner without a seat
        (DEMO_USERS["gina"], {"co_owners": {"users": ["gina"]}}),  # a seat is not enough
    ],
)
def test_update_needs_owner_co_owner_or_admin(ctx: Flask, who, changes) -> None:
    with pytest.raises(RegistryError) as refused:
        registry.update_app("sales", changes, actor=who)
    assert isinstance(refused.value, Forbidden)
    assert registry.get_app("sales").title == "Sales"


@ON_BOTH_ENGINES
def test_co_owners_and_admins_may_update(ctx: Flask) -> None:
    registry.update_app("sales", {"co_owners": {"users": ["gina"]}}, actor=ALICE)
    assert registry.update_app("sales", {"title": "By Gina"}, actor=DEMO_USERS["gina"]).title
    assert registry.update_app("sales", {"title": "By root"}, actor=DEMO_USERS["root"]).title
    registry.update_app("finance", {"co_owners": {"groups": ["/sales"]}}, actor=ADMIN)
    assert registry.update_app("finance", {"tags": []}, actor=ALICE).tags == ()


# --- ownership ----------------------------------------------------------------------------


def test_transfer_needs_a_licensed_new_owner(ctx: Flask) -> None:
    with pytest.raises(RegistryError) as refused:
        registry.transfer_owner("sales", "bob", actor=ADMIN, holds_seat=lambda _name: False)
    assert isinstance(refused.value, Conflict)
    assert refused.value.extra["reason"] == "not_licensed"
    assert registry.get_app("sales").owner == "alice"


@ON_BOTH_ENGINES
def test_transfer(ctx: Flask) -> None:
    registry.update_app("sales", {"co_owners": {"users": ["erin", "gina"]}}, actor=ALICE)
    record = registry.transfer_owner("sales", "Erin", actor=ADMIN, holds_seat=lambda _name: True)
    assert record.owner == "erin"
    assert record.co_owner_users == {"gina"}
    [event] = audit.recent(1, target="app:sales")
    assert event["action"] == "app.transfer_owner"
    assert event["before"]["owner"] == "alice"
    assert event["after"]["owner"] == "erin"
    assert [r.slug for r in registry.apps_managed_by(ALICE)] == []


@pytest.mark.parametrize(
    ("slug", "owner", "actor", "kind"),
    [
        ("sales", "erin", ALICE, Forbidden),
        ("nope", "erin", ADMIN, NotFound),
        ("sales", "bad name", ADMIN, Invalid),
        ("sales", 5, ADMIN, Invalid),
    ],
)
def test_transfer_refusals(ctx: Flask, slug, owner, actor, kind) -> None:
    asked: list[str] = []
    with pytest.raises(RegistryError) as refused:
        registry.transfer_owner(slug, owner, actor=actor, holds_seat=asked.append)
    assert type(refused.value) is kind
    assert asked == []  # refused before asking Keycloak about the new owner's seat


@ON_BOTH_ENGINES
def test_initialize_app(ctx: Flask) -> None:
    gina = DEMO_USERS["gina"]
    record = registry.initialize_app("reports", owner=gina, tags=["kpi"])
    assert (record.owner, record.access, record.title, record.visible_in_portal) == (
        "gina",
        AccessLevel.RESTRICTED,
        "Reports",
        False,  # as in Dash Enterprise: hidden until its owner says otherwise
    )
    assert audit.recent(1)[0]["action"] == "app.initialize"
    for slug, who, kind in [
        ("reports", gina, Conflict),
        ("reports2", BOB, Forbidden),
        ("reports2", DEMO_USERS["root"], Forbidden),  # admin without a seat
        ("Bad Slug", gina, Invalid),
    ]:
        with pytest.raises(RegistryError) as refused:
            registry.initialize_app(slug, owner=who)
        assert type(refused.value) is kind, slug


# --- policy -------------------------------------------------------------------------------


@ON_BOTH_ENGINES
def test_policy_forbids_unauthenticated(ctx: Flask) -> None:
    assert registry.get_policy().allowed_access_levels == set(AccessLevel)
    policy = registry.set_policy(allowed_access_levels=["authenticated", "restricted"], actor=ADMIN)
    assert AccessLevel.UNAUTHENTICATED not in policy.allowed_access_levels
    # The public app moved to the nearest stricter level, with its own audit event.
    assert registry.get_app("public").access == AccessLevel.AUTHENTICATED
    actions = [e["action"] for e in audit.recent(2)]
    assert actions == ["policy.update", "app.access_narrowed_by_policy"]
    with pytest.raises(RegistryError) as refused:
        registry.update_app("hello", {"access": "unauthenticated"}, actor=ADMIN)
    assert isinstance(refused.value, Invalid)
    assert "policy" in refused.value.message
    with pytest.raises(RegistryError):
        registry.initialize_app("open", owner=DEMO_USERS["gina"], access="unauthenticated")
    assert [r.slug for r in registry.apps_visible_to(None)] == []


@pytest.mark.parametrize(
    ("levels", "actor", "kind"),
    [
        (["authenticated"], ADMIN, Invalid),  # restricted must stay allowed
        (["restricted", "secret"], ADMIN, Invalid),
        ("restricted", ADMIN, Invalid),
        (["restricted"], ALICE, Forbidden),
    ],
)
def test_policy_refusals(ctx: Flask, levels, actor, kind) -> None:
    with pytest.raises(RegistryError) as refused:
        registry.set_policy(allowed_access_levels=levels, actor=actor)
    assert type(refused.value) is kind
    assert registry.get_policy().allowed_access_levels == set(AccessLevel)


# --- audit --------------------------------------------------------------------------------


@ON_BOTH_ENGINES
def test_audit_record_commits_on_its_own(ctx: Flask) -> None:
    audit.record("admin", "app.view_as", "bob", detail={"app": "sales"})
    db.session.rollback()  # nothing pending: the event was committed
    [event] = audit.recent(1, target="bob")
    assert (event["actor"], event["detail"]) == ("admin", {"app": "sales"})


@ON_BOTH_ENGINES
def test_audit_record_joins_a_unit_of_work(ctx: Flask) -> None:
    events = audit_count()
    with pytest.raises(ZeroDivisionError), unit_of_work():
        audit.record("admin", "x.test", "t")
        assert in_unit_of_work()
        1 / 0  # noqa: B018
    assert audit_count() == events
    assert not in_unit_of_work()


@ON_BOTH_ENGINES
def test_audit_recent_limits(ctx: Flask) -> None:
    for i in range(5):
        audit.record("admin", "x.test", f"t{i}")
    assert [e["target"] for e in audit.recent(2)] == ["t4", "t3"]
    assert len(audit.recent(0)) == 1
    assert audit.recent(target="nobody") == []


# --- analytics ----------------------------------------------------------------------------


@ON_BOTH_ENGINES
def test_views_per_day(ctx: Flask) -> None:
    for name in ["bob", "Bob", "carol", None]:
        registry.record_view("sales", name)
    old = AppView(app_slug="sales", username="bob", at=utcnow() - timedelta(days=40))
    yesterday = AppView(app_slug="sales", username="dave", at=utcnow() - timedelta(days=1))
    db.session.add_all([old, yesterday, AppView(app_slug="hello", username="x", at=utcnow())])
    db.session.commit()
    days = registry.views_per_day("sales", days=30)
    assert len(days) == 30
    assert days[-1] == (utcnow().date(), 4, 2)  # bob twice, carol, one anonymous
    assert days[-2][1:] == (1, 1)
    assert sum(views for _, views, _ in days) == 5  # the 40-day-old view is outside


# --- schema -------------------------------------------------------------------------------


#: The tables of migration 0001 (other engineers' tables come with their own migrations).
REGISTRY_TABLES = {"apps", "app_grants", "registry_state", "portal_policy"} | {
    "audit_events",
    "app_views",
}


def _schema_diff(tables: set[str] | None = None) -> list:
    """Autogenerate's diff between the migrated database and the models."""

    def include(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        if table in UNMANAGED_TABLES:  # as env.py does
            return False
        return tables is None or table is None or table in tables

    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include}
        )
        return compare_metadata(context, db.metadata)


@ON_BOTH_ENGINES
def test_migration_matches_the_models(ctx: Flask) -> None:
    assert _schema_diff(REGISTRY_TABLES) == []
    tables = set(inspect(db.engine).get_table_names())
    assert REGISTRY_TABLES | {"alembic_version"} <= tables


@ON_BOTH_ENGINES
def test_flask_session_table_is_left_alone(ctx: Flask) -> None:
    """Flask-Session creates ``sessions`` itself: autogenerate must neither add nor drop it."""
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY)"))
    assert "sessions" not in repr(_schema_diff())


@ON_BOTH_ENGINES
def test_downgrade_and_upgrade_again(ctx: Flask) -> None:
    db.session.remove()
    registry.downgrade_database("base")
    assert "apps" not in inspect(db.engine).get_table_names()
    registry.upgrade_database()
    registry.seed_default_apps()
    assert len(registry.list_apps()) == 4
