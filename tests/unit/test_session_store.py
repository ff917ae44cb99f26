"""Per-worker session caching: fast on a hit, and never stale after another worker's write.

Two portal apps built on one data directory stand for two gunicorn workers: each has its
own caches, and they share the database and the host-wide generation counters. Sessions
are started with ``begin_session`` (the code path /auth/callback uses after verifying
Keycloak's tokens); the tokens here are placeholders, since nothing on the request path
re-reads them before they are due for refresh.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest
import redis
from flask import Flask, Response, session
from sqlalchemy import event, text

from portal.auth.session_store import SESSION_COOKIE_NAME, CachedSqlAlchemySessionInterface
from portal.auth.sessions import _stored_user, end_sessions
from portal.extensions import db
from portal.generation import Generation, after_commit
from tests.unit.conftest_registry import make_app
from tests.unit.demo import DEMO_USERS
from tests.unit.portal_client import sign_in, whoami


def warm(app: Flask, cookie: str) -> None:
    """Have ``app`` cache the session."""
    for _ in range(2):
        assert whoami(app, cookie)[0] == 200


@contextmanager
def sql_statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the block runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


BOB = DEMO_USERS["bob"]


@pytest.fixture()
def signed_in(tmp_path: Path) -> tuple[Flask, Flask, str]:
    """Two workers that both hold bob's session in their caches, and bob's cookie."""
    first, second = make_app(tmp_path), make_app(tmp_path)
    cookie = sign_in(first, BOB)
    warm(first, cookie)
    warm(second, cookie)
    return first, second, cookie


# --- the counter --------------------------------------------------------------------------


def _advance(path: str, times: int) -> None:
    counter = Generation(Path(path))
    for _ in range(times):
        counter.advance()


def test_generation_is_shared_and_counts_every_advance_of_every_process(tmp_path: Path) -> None:
    path = tmp_path / "counter"
    reader = Generation(path)
    assert reader.current() == 0
    # Fresh interpreters that map the file themselves, as separately started workers do.
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_advance, args=(str(path), 200)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert reader.current() == 800  # no lost update under concurrent advances
    assert Generation(path).current() == 800


def test_after_commit_runs_after_a_commit_and_never_after_a_rollback(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    calls: list[str] = []
    with app.app_context():
        db.session.execute(text("SELECT 1"))  # a transaction, as a write has
        after_commit(db.session(), lambda: calls.append("rolled back"))
        db.session.rollback()
        db.session.commit()
        db.session.execute(text("SELECT 1"))
        after_commit(db.session(), lambda: calls.append("committed"))
        assert calls == []  # not before the commit
        db.session.commit()
        db.session.commit()  # once only
    assert calls == ["committed"]


# --- the session cache --------------------------------------------------------------------


def test_signed_in_callback_touches_no_database_on_a_cache_hit(
    signed_in: tuple[Flask, Flask, str],
) -> None:
    app, _, cookie = signed_in
    with sql_statements(app) as statements:
        status, body = whoami(app, cookie)
    assert status == 200 and "bob" in body
    assert statements == []


def test_sign_out_in_one_worker_ends_the_session_in_the_other_at_once(
    signed_in: tuple[Flask, Flask, str],
) -> None:
    first, second, cookie = signed_in
    with first.test_request_context("/auth/backchannel-logout"):
        assert end_sessions(keycloak_sid="kc-session") == 1
    assert whoami(second, cookie)[0] == 401
    assert whoami(first, cookie)[0] == 401


def test_a_changed_session_is_read_again_by_the_other_worker(
    signed_in: tuple[Flask, Flask, str],
) -> None:
    first, second, cookie = signed_in
    assert "bob" in whoami(second, cookie)[1]
    store_id = first.session_interface.key_prefix + first.session_interface._unsign(first, cookie)
    with first.test_request_context("/"):
        data = first.session_interface._retrieve_session_data(store_id)
        data["auth"]["user"]["username"] = "bobby"  # as a token refresh rewrites the row
        session.update(data)
        session.sid = store_id.removeprefix(first.session_interface.key_prefix)
        session.modified = True
        first.process_response(Response())
    assert "bobby" in whoami(second, cookie)[1]


def test_a_stored_user_is_built_once_and_follows_every_change_of_its_fields() -> None:
    stored = BOB.to_dict()
    assert _stored_user(stored) == BOB
    assert _stored_user(dict(stored)) is _stored_user(stored)  # one User per worker
    promoted = _stored_user({**stored, "roles": ["viewer", "admin"]})
    assert promoted.roles == frozenset({"viewer", "admin"})  # a refresh's new roles count
    moved = _stored_user({**stored, "groups": ["/sales/east"]})
    assert moved.groups == frozenset({"/sales/east"}) and _stored_user(stored) == BOB


def test_sessions_written_in_another_format_still_decode(tmp_path: Path) -> None:
    interface = make_app(tmp_path).session_interface
    data = {"auth": {"user": BOB.to_dict()}, "csrf_token": "t"}
    assert interface._decode(msgspec.msgpack.encode(data)) == data
    assert interface._decode(msgspec.json.encode(data)) == data  # Flask-Session's fallback


def test_a_tampered_cookie_is_refused_after_the_genuine_one_was_cached(
    signed_in: tuple[Flask, Flask, str],
) -> None:
    app, _, cookie = signed_in
    sid, _, signature = cookie.rpartition(".")
    forged = f"{sid}.{signature[:-2]}{'AA' if not signature.endswith('AA') else 'BB'}"
    assert whoami(app, forged)[0] == 401


def test_an_expired_session_is_refused_even_when_cached(tmp_path: Path) -> None:
    app = make_app(tmp_path, session_lifetime_seconds=1)
    cookie = sign_in(app, BOB)
    warm(app, cookie)
    time.sleep(1.2)
    assert whoami(app, cookie)[0] == 401


def test_without_the_host_cache_every_request_reads_the_store(tmp_path: Path) -> None:
    first, second = make_app(tmp_path, host_cache=False), make_app(tmp_path, host_cache=False)
    assert isinstance(first.session_interface, CachedSqlAlchemySessionInterface)
    assert first.session_interface.generation is None
    cookie = sign_in(first, BOB)
    warm(second, cookie)
    with sql_statements(second) as statements:
        assert whoami(second, cookie)[0] == 200
    assert any("FROM sessions" in s for s in statements)
    with first.test_request_context("/"):
        end_sessions(keycloak_sid="kc-session")
    assert whoami(second, cookie)[0] == 401


# --- when the host cache is on ------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "database_url", "expected"),
    [
        ("", "", True),  # SQLite in the data directory: one host by construction
        ("auto", "postgresql://portal@db/portal", True),  # its NOTIFY tells every host
        ("0", "postgresql://portal@db/portal", False),
        ("auto", "mysql://portal@db/portal", False),  # several hosts may share it
        ("1", "mysql://portal@db/portal", True),  # the operator vouches for one host
        ("0", "", False),
    ],
)
def test_host_cache_follows_the_database_unless_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: str, database_url: str, expected: bool
) -> None:
    from portal.settings import Settings

    monkeypatch.setenv("PORTAL_HOST_CACHE", env)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    assert Settings.from_env().host_cache is expected


def test_a_bad_host_cache_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.settings import Settings

    monkeypatch.setenv("PORTAL_HOST_CACHE", "sometimes")
    with pytest.raises(ValueError, match="sometimes"):
        Settings.from_env()


def test_redis_backend_is_flask_sessions_redis_store(tmp_path: Path) -> None:
    from flask_session.redis import RedisSessionInterface

    # redis-py connects lazily: building the app needs no server.
    app = make_app(tmp_path, session_backend="redis", redis_url="redis://127.0.0.1:1/0")
    interface = app.session_interface
    assert isinstance(interface, RedisSessionInterface)
    assert interface.use_signer and interface.key_prefix == "session:"
    assert app.config["SESSION_COOKIE_NAME"] == SESSION_COOKIE_NAME


def test_sessions_on_redis_are_shared_and_a_sign_out_holds_everywhere(
    tmp_path: Path, redis_url: str
) -> None:
    first, second = (
        make_app(tmp_path, session_backend="redis", redis_url=redis_url) for _ in range(2)
    )
    cookie = sign_in(first, BOB)
    assert whoami(second, cookie) == whoami(first, cookie)
    assert whoami(second, cookie)[0] == 200 and "bob" in whoami(second, cookie)[1]
    with first.test_request_context("/auth/backchannel-logout"):
        assert end_sessions(keycloak_sid="kc-session") == 1
    assert whoami(second, cookie)[0] == 401  # no cache in front of Redis: at once
    assert whoami(first, cookie)[0] == 401
    with redis.Redis.from_url(redis_url) as client:
        assert client.keys("session:*") == []


def test_an_unknown_session_backend_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memcached"):
        make_app(tmp_path, session_backend="memcached")
