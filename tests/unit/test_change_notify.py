"""Caches kept per process on PostgreSQL, told of every change by NOTIFY (no shared file).

Two portal apps on one PostgreSQL database, each with its own data folder, stand for two
portal processes on two hosts: nothing but the database connects them. Each keeps
sessions and app records in memory; a sign-out or a registry write in one must be
refused or seen by the other within 2 s (the measured time is printed), and while the
other's listening connection is down, it must read the database instead of its cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask

from portal import registry
from portal.change_notify import APPLICATION_NAME, ChangeListener, stop_listeners
from portal.services import services
from tests.unit.conftest_registry import make_app
from tests.unit.demo import DEMO_USERS
from tests.unit.portal_client import sign_in, whoami
from tests.unit.test_session_store import sql_statements, warm

BOB, ALICE = DEMO_USERS["bob"], DEMO_USERS["alice"]
#: How long a change may take to reach the other process.
WITHIN = 2.0
#: How long a listener may take to connect (first use, or after its connection was killed).
CONNECT = 10.0


def listener(app: Flask) -> ChangeListener:
    found = services(app).change_listener
    assert found is not None, "no change listener: is the cache on with PostgreSQL?"
    return found


def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition()`` held (polled every millisecond); fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"not within {timeout} s"
        time.sleep(0.001)
    return time.monotonic() - start


@pytest.fixture
def workers(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Flask, Flask]]:
    """Two portals on one PostgreSQL database, listening, and nothing else in common."""
    first, second = (
        make_app(tmp_path / name, database_url=postgres_url, secret_key="shared-secret")
        for name in ("first", "second")
    )
    for app in (first, second):
        assert listener(app).wait_listening(CONNECT)
    yield first, second
    stop_listeners()


def test_a_server_database_keeps_the_caches_on_without_a_counter_file(
    workers: tuple[Flask, Flask], tmp_path: Path
) -> None:
    first, _ = workers
    assert services(first).settings.host_cache is True
    assert set(listener(first).counters) == {"portal_sessions", "portal_registry"}
    assert not list(tmp_path.rglob("*.generation"))


def test_a_sign_out_in_one_process_is_refused_by_the_other_within_2_s(
    workers: tuple[Flask, Flask],
) -> None:
    first, second = workers
    cookie = sign_in(first, BOB)
    warm(second, cookie)
    with sql_statements(second) as statements:
        assert whoami(second, cookie)[0] == 200
    assert statements == []  # served from the second process's memory
    with first.test_request_context("/auth/backchannel-logout"):
        from portal.auth.sessions import end_sessions

        assert end_sessions(keycloak_sid="kc-session") == 1
    elapsed = wait_for(lambda: whoami(second, cookie)[0] == 401, WITHIN)
    print(f"\nsign-out seen by the other process after {elapsed * 1000:.1f} ms")
    assert whoami(first, cookie)[0] == 401


def test_a_registry_write_in_one_process_is_seen_by_the_other_within_2_s(
    workers: tuple[Flask, Flask],
) -> None:
    first, second = workers

    def title_in_second() -> str:
        with second.app_context():
            return registry.get_app("sales").title

    assert title_in_second() == "Sales"
    with sql_statements(second) as statements:
        assert title_in_second() == "Sales"
    assert statements == []  # cached, not even the version is read
    with first.app_context():
        registry.update_app("sales", {"title": "Sales 2"}, actor=ALICE)
    elapsed = wait_for(lambda: title_in_second() == "Sales 2", WITHIN)
    print(f"\nregistry write seen by the other process after {elapsed * 1000:.1f} ms")


def _terminate_listeners(database_url: str) -> int:
    libpq_url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq_url, autocommit=True) as connection:
        return len(
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = current_database()",
                (APPLICATION_NAME,),
            ).fetchall()
        )


def test_without_its_listening_connection_a_process_reads_the_database_until_back(
    workers: tuple[Flask, Flask], postgres_url: str
) -> None:
    first, second = workers
    cookie = sign_in(first, BOB)
    warm(second, cookie)
    with second.app_context():
        assert registry.get_app("sales").title == "Sales"  # cached
    assert _terminate_listeners(postgres_url) == 2
    wait_for(lambda: not listener(second).listening, WITHIN)
    with first.app_context():  # a change whose notification nobody can hear
        registry.update_app("sales", {"title": "Unheard"}, actor=ALICE)
    sessions = second.session_interface.generation
    assert sessions.current() is None  # nothing vouches for the cache now
    with sql_statements(second) as statements:
        assert whoami(second, cookie)[0] == 200
    assert any("FROM sessions" in s for s in statements)  # read, not remembered
    with second.app_context(), sql_statements(second) as statements:
        assert registry.get_app("sales").title == "Unheard"
    assert any("registry_state" in s for s in statements)  # the version from the database
    # Back: the cache is trusted again, under a new count that voids what came before.
    elapsed = wait_for(lambda: listener(second).listening, CONNECT)
    print(f"\nlistening again {elapsed * 1000:.0f} ms after the connection was killed")
    warm(second, cookie)
    with second.app_context():
        assert registry.get_app("sales").title == "Unheard"  # read once more, then kept
    with sql_statements(second) as statements:
        assert whoami(second, cookie)[0] == 200
        with second.app_context():
            assert registry.get_app("sales").title == "Unheard"
    assert statements == []
    with first.test_request_context("/"):
        from portal.auth.sessions import end_sessions

        end_sessions(keycloak_sid="kc-session")
    elapsed = wait_for(lambda: whoami(second, cookie)[0] == 401, WITHIN)
    print(f"sign-out seen after reconnecting: {elapsed * 1000:.1f} ms")
