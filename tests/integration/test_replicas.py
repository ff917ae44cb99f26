"""Two portal processes behind the front door share sessions and the registry.

On SQLite, the session's platform is started again with ``replicas=2``, as `make up
REPLICAS=2` does on a running `make up`: its first portal process keeps running, a second
one (platform-portal-2, on its own socket) joins, and nginx's upstream lists both. At the
end it goes back to one. On PostgreSQL and Redis (what `make up REPLICAS=2 DB=postgres`
runs), a platform of its own starts with two replicas, on the session's Keycloak, without
the demo apps. Each test addresses a replica directly through its unix socket
(tests/replica_client.py) to say which process did what; the load test goes through the
front door. Every "within 2 s" is measured and printed.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from portal.hosting.local import LocalPlatform
from portal.hosting.localdb import PostgresServer, RedisServer
from portal.hosting.platform_programs import PortalReplica
from portal.hosting.runner import http_status_line
from tests.live_stack import free_port
from tests.oidc_flow import admin_api, login
from tests.replica_client import ReplicaClient, sign_in

pytestmark = pytest.mark.integration

#: How long a change on one replica may take to apply on the other.
WITHIN = 2.0
#: Concurrent clients of the load test: at most this many requests are in flight.
CLIENTS = 6


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def replicated(request: pytest.FixtureRequest) -> Iterator[LocalPlatform]:
    if request.param == "postgres":
        yield request.getfixturevalue("platform_on_servers")
        return
    request.getfixturevalue("stack")
    session_platform: LocalPlatform = request.getfixturevalue("local_platform")
    two = dataclasses.replace(session_platform, replicas=2)
    two.start(timeout=600)
    try:
        yield two
    finally:
        session_platform.start(timeout=600)  # back to one portal process


@pytest.fixture(scope="module")
def platform_on_servers(
    keycloak_instance: tuple, postgres_server: PostgresServer, redis_server: RedisServer
) -> Iterator[LocalPlatform]:
    """Two replicas on PostgreSQL (the platform database) and Redis (sessions)."""
    instance, _ = keycloak_instance
    data_dir = Path(tempfile.mkdtemp(prefix="platform-replicas-"))
    platform = LocalPlatform(
        data_dir=data_dir,
        listen=f"127.0.0.1:{free_port()}",
        replicas=2,
        env={
            "KEYCLOAK_URL": instance.base_url,
            "DATABASE_URL": postgres_server.create_database("replicas"),
            "PORTAL_SESSION_BACKEND": "redis",
            "REDIS_URL": redis_server.url(1),  # apart from the tests' flushed database 0
            "PORTAL_SEED_APPS": "0",
        },
    )
    # The realm lets the code flow come back to this platform's address too.
    api = admin_api(instance.base_url)
    dash = api.get(f"{api.base_url}/clients", params={"clientId": "dash"}, timeout=30).json()[0]
    callback = f"{platform.url}/auth/callback"
    with_ours = {**dash, "redirectUris": [*dash["redirectUris"], callback]}
    assert api.put(f"{api.base_url}/clients/{dash['id']}", json=with_ours, timeout=30).ok
    try:
        platform.start(timeout=600)
        yield platform
    finally:
        platform.stop()
        api.put(f"{api.base_url}/clients/{dash['id']}", json=dash, timeout=30)
        postgres_server.drop_database("replicas")
        shutil.rmtree(data_dir, ignore_errors=True)


def client(platform: LocalPlatform, replica: int, cookies: dict | None = None) -> ReplicaClient:
    socket = platform.portal_replicas[replica - 1].files.socket
    return ReplicaClient(socket, urlsplit(platform.url).netloc, cookies or {})


def until(predicate: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``predicate()`` holds; fails after ``timeout`` (bounded loop)."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"not within {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - started


def username_on(replica: ReplicaClient) -> str | None:
    me = replica.get("/api/me")
    return me.json()["username"] if me.status == 200 else None


def test_each_replica_names_itself_and_the_front_door_uses_both(
    replicated: LocalPlatform,
) -> None:
    for number, replica in enumerate(replicated.portal_replicas, start=1):
        answer = client(replicated, number).get("/healthz")
        assert answer.json() == {"status": "ok", "replica": replica.name}
    assert [r.name for r in replicated.portal_replicas] == ["platform-portal", "platform-portal-2"]
    seen = Counter(
        requests.get(f"{replicated.url}/healthz", timeout=10).json()["replica"] for _ in range(20)
    )
    print(f"front door /healthz: {dict(seen)}")
    assert set(seen) == {"platform-portal", "platform-portal-2"}


def test_signed_in_on_one_replica_keeps_working_on_the_other(replicated: LocalPlatform) -> None:
    first = client(replicated, 1)
    sign_in(first, "bob")
    second = first.with_socket(client(replicated, 2).socket)
    assert username_on(second) == "bob"
    # A write on the second replica with the CSRF token the first one issued.
    apps = second.get("/api/apps")
    assert apps.status == 200
    token = first.get("/api/me").json()["csrf_token"]
    assert second.get("/api/me").json()["csrf_token"] == token


def test_sign_out_on_one_replica_is_refused_by_the_other_within_2_s(
    replicated: LocalPlatform,
) -> None:
    first = client(replicated, 1)
    sign_in(first, "dave")
    # A copy of the cookie: replica 1's answer to the sign-out clears the first jar's.
    second = client(replicated, 2, dict(first.cookies))
    for _ in range(6):  # each of its workers has the session in its cache now
        assert username_on(second) == "dave"
    token = first.csrf_headers()["X-CSRF-Token"]
    out = first.request("POST", "/logout", form={"csrf_token": token})
    assert out.status in (302, 303), out.body[:300]
    took = until(lambda: username_on(second) is None, WITHIN)
    print(f"sign-out on replica 1 refused by replica 2 after {took:.3f} s")
    for _ in range(6):
        assert username_on(second) is None


def test_access_change_on_one_replica_applies_on_the_other_within_2_s(
    replicated: LocalPlatform,
) -> None:
    owner = client(replicated, 1)
    sign_in(owner, "alice")
    dave = client(replicated, 1)
    sign_in(dave, "dave")
    viewer = dave.with_socket(client(replicated, 2).socket)
    slug = f"replica-{secrets.token_hex(3)}"
    created = owner.request(
        "POST", "/api/apps", json_body={"slug": slug, "title": slug}, headers=owner.csrf_headers()
    )
    assert created.status == 201, created.body[:300]

    def decision() -> int:
        headers = {"X-Original-URI": f"/apps/{slug}/", "X-Original-Method": "GET"}
        return viewer.get("/_frontdoor/auth", headers=headers).status

    def set_access(level: str) -> None:
        patched = owner.request(
            "PATCH", f"/api/apps/{slug}", json_body={"access": level}, headers=owner.csrf_headers()
        )
        assert patched.status == 200, patched.body[:300]

    try:
        for _ in range(6):  # in the registry cache of each worker of replica 2
            assert decision() == 403
        set_access("authenticated")
        opened = until(lambda: decision() == 200, WITHIN)
        set_access("restricted")
        closed = until(lambda: decision() == 403, WITHIN)
        print(
            f"access change on replica 1, on replica 2: open {opened:.3f} s, closed {closed:.3f} s"
        )
    finally:
        owner.request("DELETE", f"/api/apps/{slug}", headers=owner.csrf_headers())


def test_killing_a_replica_under_load_loses_no_request_beyond_those_in_flight(
    replicated: LocalPlatform,
) -> None:
    base = replicated.url
    session = login(base, "bob")
    # The portal, /healthz (which replica answered), and an app through the auth_request
    # (the demo apps run on the SQLite platform).
    paths = ["/api/me", "/healthz"]
    if replicated.env.get("PORTAL_SEED_APPS") != "0":
        paths.append("/apps/hello/_dash-layout")
    for path in paths:
        assert session.get(f"{base}{path}", timeout=30).status_code == 200, path
    outcomes: list[tuple[float, str]] = []
    answered_by: list[tuple[float, str]] = []
    stop = threading.Event()

    def load(number: int) -> None:
        browser = requests.Session()
        browser.cookies.update(session.cookies)
        path = paths[number % len(paths)]
        while not stop.is_set():
            try:
                answer = browser.get(f"{base}{path}", timeout=30)
                status = str(answer.status_code)
                if path == "/healthz" and answer.ok:
                    answered_by.append((time.monotonic(), answer.json()["replica"]))
            except requests.RequestException as error:
                status = type(error).__name__
            outcomes.append((time.monotonic(), status))

    victim: PortalReplica = replicated.portal_replicas[1]
    workers = [threading.Thread(target=load, args=(n,)) for n in range(CLIENTS)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(2)
        master = replicated.supervisor.state(victim.name).pid
        assert master
        killed_at = time.monotonic()
        os.kill(master, signal.SIGKILL)
        time.sleep(6)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
    before = sum(1 for at, _ in outcomes if at < killed_at)
    after = [status for at, status in outcomes if at >= killed_at]
    failed = Counter(status for status in after if status != "200")
    print(
        f"kill of {victim.name} under load: {before} requests before, {len(after)} after, "
        f"failed {sum(failed.values())} {dict(failed)} (clients in flight: {CLIENTS})"
    )
    assert before > 0 and len(after) > 10 * CLIENTS
    # The load was shared by both replicas until the kill.
    assert victim.name in {name for at, name in answered_by if at < killed_at}
    assert sum(failed.values()) <= CLIENTS
    # Supervision brings it back, a new master on the same socket.
    until(
        lambda: (
            replicated.supervisor.state(victim.name).pid not in (0, master)
            and http_status_line(victim.files.socket, "/healthz", timeout=2) is not None
        ),
        90,
    )


def test_starting_again_with_one_replica_removes_the_other(replicated: LocalPlatform) -> None:
    """`make up` after `make up REPLICAS=2`: back to one portal process (the last test of
    this module: the platform has one replica after it)."""
    one = dataclasses.replace(replicated, replicas=1)
    one.start(timeout=600)
    assert one.portal_programs() == ["platform-portal"]
    assert one.supervisor.state("platform-portal-2").statename == "ABSENT"
    seen = {requests.get(f"{one.url}/healthz", timeout=10).json()["replica"] for _ in range(10)}
    assert seen == {"platform-portal"}
