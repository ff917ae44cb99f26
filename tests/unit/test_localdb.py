"""The local PostgreSQL and Redis servers (portal.hosting.localdb) the other tests stand on."""

from __future__ import annotations

import os
import pwd

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from portal.hosting.localdb import PostgresServer, RedisServer


def test_postgres_answers_with_the_password_only(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    libpq_url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq_url) as connection:
        assert connection.execute("SELECT current_database()").fetchone()[0].startswith("test_")
        assert connection.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
    wrong = libpq_url.replace(postgres_server.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong)
    assert postgres_server.is_ready()


def test_postgres_runs_unprivileged_and_keeps_data_across_restart(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    libpq_url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq_url) as connection:
        connection.execute("CREATE TABLE kept (value text)")
        connection.execute("INSERT INTO kept VALUES ('committed')")
    pid = int((postgres_server.cluster / "postmaster.pid").read_text().split()[0])
    owner = os.stat(f"/proc/{pid}").st_uid
    if os.geteuid() == 0:
        assert owner == pwd.getpwnam("postgres").pw_uid  # PostgreSQL refuses root
    else:
        assert owner == os.geteuid()
    postgres_server.restart()
    with psycopg.connect(libpq_url) as connection:
        assert connection.execute("SELECT value FROM kept").fetchall() == [("committed",)]
    # Creating an existing database again is a no-op that returns its URL.
    name = postgres_url.rsplit("/", 1)[1]
    assert postgres_server.create_database(name) == postgres_url


def test_redis_requires_its_password(redis_server: RedisServer, redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.set("k", "v")
        assert client.get("k") == b"v"
    # No retries: redis-py would retry a refused AUTH as a connection error, for seconds.
    anonymous = redis.Redis(host="127.0.0.1", port=redis_server.port, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("k")
    assert redis_server.is_ready()
