"""Several portal processes in the local mode: one program and one socket each, every one
of them in the front door's upstream, and /healthz saying which one answered."""

from __future__ import annotations

import argparse
import re
import socket
from pathlib import Path

import pytest

from portal.hosting.local import LocalPlatform
from portal.hosting.localdb import PostgresServer, RedisServer
from portal.hosting.platform_programs import PORTAL
from scripts import stack
from tests.unit.conftest_registry import make_app

ENV = {"KEYCLOAK_URL": "http://127.0.0.1:1"}


def test_each_replica_is_a_program_with_its_own_socket_pid_file_and_log(tmp_path: Path) -> None:
    platform = LocalPlatform(data_dir=tmp_path, replicas=3)
    replicas = platform.portal_replicas
    assert [r.name for r in replicas] == [PORTAL, f"{PORTAL}-2", f"{PORTAL}-3"]
    for field in ("socket", "master_pid", "log"):
        assert len({getattr(r.files, field) for r in replicas}) == 3, field
    for replica in replicas:
        program = platform.portal_program(ENV, replica)
        assert program.name == replica.name and program.log_path == replica.files.log
        assert f"--bind=unix:{replica.files.socket}" in program.command
        assert f"--pid={replica.files.master_pid}" in program.command
        assert str(replica.files.master_pid) in program.command[:5]  # the launcher's
        assert program.env == {**ENV, "PORTAL_REPLICA": replica.name}


def test_the_first_replica_is_the_portal_of_a_platform_with_one(tmp_path: Path) -> None:
    one, three = LocalPlatform(data_dir=tmp_path), LocalPlatform(data_dir=tmp_path, replicas=3)
    assert one.portal_program(ENV) == three.portal_program(ENV, three.portal_replicas[0])
    files = one.portal_replicas[0].files
    assert (files.socket, files.master_pid, files.log) == (
        one.layout.portal_socket,
        one.layout.portal_master_pid,
        one.layout.portal_log,
    )


def test_a_platform_runs_at_least_one_portal(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        LocalPlatform(data_dir=tmp_path, replicas=0)


def portal_upstream(config: str) -> list[str]:
    block = re.search(r"upstream portal \{(.*?)\}", config, re.S)
    assert block, "no portal upstream"
    return re.findall(r"^\s*server (\S+);$", block.group(1), re.M)


def test_the_front_door_sends_to_every_replica_and_moves_on_from_a_failed_one(
    tmp_path: Path,
) -> None:
    platform = LocalPlatform(data_dir=tmp_path, replicas=2)
    config = platform.frontdoor.render()
    sockets = [f"unix:{r.files.socket}" for r in platform.portal_replicas]
    assert portal_upstream(config) == sockets
    # Connection errors and timeouts move on; a POST that was sent is never sent again.
    assert re.search(r"^  proxy_next_upstream error timeout;$", config, re.M)
    assert not re.search(r"proxy_next_upstream[^;]*non_idempotent", config)
    # The access decision (auth_request) and the refusals use the same upstream.
    for location in ("/_frontdoor/auth", "@refused", "@unavailable"):
        section = config.split(f"location {location}" if "@" in location else location, 1)[1]
        assert "proxy_pass http://portal" in section.split("}", 1)[0], location
    assert portal_upstream(LocalPlatform(data_dir=tmp_path).frontdoor.render()) == sockets[:1]


def test_portal_programs_are_found_in_supervisords_folder(tmp_path: Path) -> None:
    platform = LocalPlatform(data_dir=tmp_path)
    platform.supervisor.programs.mkdir(parents=True)
    for name in (f"{PORTAL}-10", f"{PORTAL}-2", f"{PORTAL}-x", "platform-frontdoor"):
        (platform.supervisor.programs / f"{name}.conf").touch()
    assert platform.portal_programs() == [PORTAL, f"{PORTAL}-2", f"{PORTAL}-10"]


def test_healthz_names_the_replica(tmp_path: Path) -> None:
    named = make_app(tmp_path / "a", seed=False, replica="platform-portal-2").test_client()
    assert named.get("/healthz").get_json() == {"status": "ok", "replica": "platform-portal-2"}
    # Unset (a container, a pod: one portal each): the host's name.
    unnamed = make_app(tmp_path / "b", seed=False).test_client()
    assert unnamed.get("/healthz").get_json()["replica"] == socket.gethostname()


def test_make_up_replicas_is_a_count_or_empty() -> None:
    assert stack.replicas_arg("") is None  # compose's own count, one locally
    assert stack.replicas_arg("2") == 2
    for bad in ("0", "-1", "two"):
        with pytest.raises(argparse.ArgumentTypeError):
            stack.replicas_arg(bad)


def test_make_up_db_postgres_gives_the_portal_both_servers(
    postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    env = stack.database_env(postgres_server, redis_server)
    try:
        assert env == {
            "DATABASE_URL": postgres_server.url(stack.PLATFORM_DATABASE),
            "PORTAL_SESSION_BACKEND": "redis",
            "REDIS_URL": redis_server.url(),
        }
        assert stack.database_env(postgres_server, redis_server) == env  # `make up` twice
    finally:
        postgres_server.drop_database(stack.PLATFORM_DATABASE)
