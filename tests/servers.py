"""Real PostgreSQL and Redis for the tests (a pytest plugin, loaded by tests/conftest.py).

Each server starts once per test session, the first time a test asks for it, on a free
port with its files in a temporary folder (portal.hosting.localdb), and stops at the end.
A test gets its own empty database (``postgres_url``) or a flushed Redis (``redis_url``);
tests that need the server itself (a second database, a restart) take ``postgres_server``
or ``redis_server``. Tests using them are marked ``servers`` (``-m "not servers"``
leaves them out).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.hosting.localdb import PostgresServer, RedisServer, free_port

__all__ = ["postgres_server", "postgres_url", "redis_server", "redis_url"]

SERVER_FIXTURES = frozenset({"postgres_server", "postgres_url", "redis_server", "redis_url"})
_DATABASE_NUMBERS = itertools.count(1)


def _server_folder(prefix: str) -> Path:
    """Not under pytest's 0700 temp folder: the ``postgres`` user must enter it."""
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the test session (fsync off: tests never survive a machine crash)."""
    folder = _server_folder("pg-test-")
    server = PostgresServer(folder, free_port(), durable=False)
    try:
        yield server.start()
    finally:
        server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL (SQLAlchemy URL, psycopg driver),
    dropped after the test with whatever connections the test left open to it."""
    name = f"test_{next(_DATABASE_NUMBERS)}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    folder = _server_folder("redis-test-")
    server = RedisServer(folder, free_port(), persistent=False)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    with redis.Redis.from_url(redis_server.url()) as client:
        client.flushall()
    return redis_server.url()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker("servers")
