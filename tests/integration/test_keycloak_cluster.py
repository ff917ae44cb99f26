"""Two Keycloak nodes clustered on PostgreSQL behind one URL (issue 14).

One cluster for the session: the session's PostgreSQL (tests/servers.py) with a database
of Keycloak's own, two nodes started by kcctl (the first imports the realm), discovering
each other through that database (Keycloak's default jdbc-ping stack), and the balancing
nginx of portal.hosting.keycloak_proxy as the one Keycloak URL. Sign-ins go through the
real login form; nothing is mocked. The last three tests stop node A, start it again and
kill node B, in this order.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

import kcctl
from portal.hosting.keycloak_proxy import KeycloakProxy
from tests.live_stack import free_port, wait_http
from tests.oidc_flow import cli_tokens

pytestmark = pytest.mark.integration

_LOG_LINE = re.compile(r'"(?P<method>\S+) (?P<path>\S+)" (?P<status>\d+) .* node=(?P<nodes>.*)$')


@dataclass(frozen=True)
class ClusterUnderTest:
    cluster: kcctl.Cluster
    instances: list[kcctl.Instance]
    proxy: KeycloakProxy
    proxy_log: Path

    @property
    def issuer(self) -> str:
        """The one issuer every node names: the balancer's."""
        return f"{self.cluster.public_url}/realms/dash"

    def node_issuer(self, index: int) -> str:
        return f"{self.cluster.nodes[index].base_url}/realms/dash"

    def answered_by(self) -> list[tuple[str, str, list[str]]]:
        """(method, path, nodes tried) of each request the balancer passed on, from its
        log; the last node answered."""
        lines = self.proxy_log.read_text(errors="replace").splitlines()
        return [
            (m["method"], m["path"], m["nodes"].split(", "))
            for m in map(_LOG_LINE.search, lines)
            if m
        ]


@pytest.fixture(scope="session")
def keycloak_cluster(
    postgres_server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ClusterUnderTest]:
    postgres_server.create_database("keycloak_cluster")
    database = kcctl.Database(
        host="127.0.0.1",
        port=postgres_server.port,
        name="keycloak_cluster",
        user=postgres_server.user,
        password=postgres_server.password,
    )
    root = tmp_path_factory.mktemp("keycloak-cluster")
    proxy_port = free_port()
    cluster = kcctl.Cluster.on_ports(
        root,
        public_url=f"http://127.0.0.1:{proxy_port}",
        database=database,
        count=2,
        http_ports=[free_port(), free_port()],
        management_ports=[free_port(), free_port()],
        # Not from 7800 on: a `make up` cluster or another test session may be starting
        # there, and a node binds its port only well into its start.
        jgroups_ports=kcctl.free_jgroups_ports(2, first=random.randrange(10000, 15000)),
    )
    nodes = [f"127.0.0.1:{node.http_port}" for node in cluster.nodes]
    proxy = KeycloakProxy(root / "proxy", f"127.0.0.1:{proxy_port}", nodes)
    proxy.check()
    proxy_log = root / "proxy.log"
    with open(proxy_log, "ab") as log:
        nginx = subprocess.Popen(proxy.command(), stdout=log, stderr=subprocess.STDOUT)
    try:
        began = time.monotonic()
        instances = kcctl.start_cluster(cluster, timeout=300)
        print(f"\nKeycloak cluster of 2 nodes ready in {time.monotonic() - began:.0f} s")
        wait_http(f"{proxy.url}/realms/dash/.well-known/openid-configuration", timeout=30)
        yield ClusterUnderTest(cluster, instances, proxy, proxy_log)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        kcctl.stop_cluster(cluster)


def refresh(issuer: str, refresh_token: str) -> requests.Response:
    return requests.post(
        f"{issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "dash-cli",
            "refresh_token": refresh_token,
        },
        timeout=30,
    )


def userinfo(issuer: str, access_token: str) -> requests.Response:
    return requests.get(
        f"{issuer}/protocol/openid-connect/userinfo",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=30,
    )


def test_the_nodes_form_one_cluster_behind_one_url(keycloak_cluster: ClusterUnderTest) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        members = [kcctl.cluster_members(i) for i in keycloak_cluster.instances]
        if members == [2, 2]:
            break
        time.sleep(0.5)
    assert members == [2, 2], "each node's latest cluster view should have both nodes"
    for index in range(2):  # each node answers for the balancer's URL, not its own
        own = requests.get(
            f"{keycloak_cluster.node_issuer(index)}/.well-known/openid-configuration", timeout=10
        )
        assert own.json()["issuer"] == keycloak_cluster.issuer
    for _ in range(4):
        discovery = requests.get(
            f"{keycloak_cluster.issuer}/.well-known/openid-configuration", timeout=10
        )
        assert discovery.json()["issuer"] == keycloak_cluster.issuer
    nodes = {tried[-1] for _, path, tried in keycloak_cluster.answered_by() if "known" in path}
    assert nodes == set(keycloak_cluster.proxy.nodes), "the balancer takes turns"


def test_sign_in_through_the_balancer_needs_no_sticky_sessions(
    keycloak_cluster: ClusterUnderTest,
) -> None:
    before = len(keycloak_cluster.answered_by())
    for username in ("alice", "bob"):
        tokens = cli_tokens(keycloak_cluster.issuer, username)
        me = userinfo(keycloak_cluster.issuer, tokens["access_token"])
        assert me.json()["preferred_username"] == username
    steps = keycloak_cluster.answered_by()[before:]
    form = [tried[-1] for _, path, tried in steps if path.endswith("/openid-connect/auth")]
    posted = [tried[-1] for _, path, tried in steps if "login-actions/authenticate" in path]
    assert len(form) == len(posted) == 2
    # The login form came from one node and was posted to the other: the sign-in in
    # progress lives in the cluster's distributed cache, not in one node.
    assert any(a != b for a, b in zip(form, posted, strict=True)), steps


def test_a_session_started_on_one_node_refreshes_on_the_other(
    keycloak_cluster: ClusterUnderTest,
) -> None:
    through_balancer = len(keycloak_cluster.answered_by())
    node_a = keycloak_cluster.cluster.nodes[0].base_url
    tokens = cli_tokens(keycloak_cluster.issuer, "carol", node_url=node_a)
    refreshed = refresh(keycloak_cluster.node_issuer(1), tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    me = userinfo(keycloak_cluster.node_issuer(1), new["access_token"])
    assert me.status_code == 200 and me.json()["preferred_username"] == "carol"
    assert new["session_state"] == tokens["session_state"]  # the same session, on node B
    assert len(keycloak_cluster.answered_by()) == through_balancer, "all of it went direct"


class RefreshingUser:
    """A signed-in user refreshing her tokens through the balancer every 50 ms, in a
    thread, while a node goes away; each refresh is kept as (began, status, seconds)."""

    def __init__(self, issuer: str, tokens: dict) -> None:
        self.issuer = issuer
        self.token = tokens["refresh_token"]
        self.outcomes: list[tuple[float, int, float]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RefreshingUser:
        self._thread.start()
        time.sleep(1)  # a few refreshes before the node goes
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(2)  # and a few after
        self._done.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        deadline = time.monotonic() + 120
        while not self._done.is_set() and time.monotonic() < deadline:
            began = time.monotonic()
            try:
                status = refresh(self.issuer, self.token)
            except requests.RequestException:
                self.outcomes.append((began, 0, time.monotonic() - began))
                continue
            self.outcomes.append((began, status.status_code, time.monotonic() - began))
            if status.status_code == 200:
                self.token = status.json()["refresh_token"]
            time.sleep(0.05)

    def report(self, since: float, gone: float) -> tuple[list, str]:
        """The failed refreshes, and a line of what happened from ``since`` on, once the
        node was ``gone``."""
        during = [o for o in self.outcomes if o[0] >= since]
        after = [o for o in during if o[0] >= gone]
        assert after, "the user kept refreshing after the node was gone"
        failed = [o for o in self.outcomes if o[1] != 200]
        slowest = max(o[2] for o in during)
        return failed, (
            f"{len(during)} refreshes through the balancer from then on, {len(failed)} "
            f"failed; slowest {slowest:.2f} s; the first after it was gone {after[0][2]:.3f} s"
        )


def test_stopping_a_node_keeps_people_signed_in(keycloak_cluster: ClusterUnderTest) -> None:
    issuer = keycloak_cluster.issuer
    browser = requests.Session()  # alice's browser: Keycloak's SSO cookie in it
    alice = cli_tokens(issuer, "alice", session=browser)
    carol = cli_tokens(issuer, "carol", node_url=keycloak_cluster.cluster.nodes[0].base_url)
    with RefreshingUser(issuer, alice) as user:
        stop_began = time.monotonic()
        assert kcctl.stop(keycloak_cluster.cluster.nodes[0].instance_dir)
        stopped = time.monotonic()
    failed, what = user.report(stop_began, stopped)
    retried = [r for r in keycloak_cluster.answered_by() if len(r[2]) > 1]
    print(
        f"\nnode A stopped (kcctl.stop) in {stopped - stop_began:.1f} s; {what}; "
        f"{len(retried)} passed on to node B by the balancer"
    )
    assert not failed, failed

    # A session started on the stopped node refreshes through the balancer (node B).
    refreshed = refresh(issuer, carol["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    # Alice is still signed in: her browser comes straight back with a code, no form.
    again = cli_tokens(issuer, "alice", password="not-needed", session=browser)
    assert userinfo(issuer, again["access_token"]).json()["preferred_username"] == "alice"
    # And a new sign-in succeeds through the balancer.
    began = time.monotonic()
    dave = cli_tokens(issuer, "dave")
    print(f"new sign-in with node A stopped: {time.monotonic() - began:.2f} s")
    assert userinfo(issuer, dave["access_token"]).json()["preferred_username"] == "dave"
    answered_after = {tried[-1] for _, _, tried in keycloak_cluster.answered_by()[-5:]}
    assert answered_after == {keycloak_cluster.proxy.nodes[1]}


def test_a_restarted_node_rejoins_and_serves_sessions_begun_without_it(
    keycloak_cluster: ClusterUnderTest,
) -> None:
    cluster = keycloak_cluster.cluster
    kcctl.stop(cluster.nodes[0].instance_dir)  # down, as the test before left it
    erin = cli_tokens(keycloak_cluster.issuer, "erin", node_url=cluster.nodes[1].base_url)
    began = time.monotonic()
    node_a = kcctl.start(**kcctl.node_settings(cluster, 0))
    kcctl.wait_ready(node_a, timeout=300)
    print(f"\nnode A restarted and ready in {time.monotonic() - began:.0f} s")
    deadline = time.monotonic() + 60
    while kcctl.cluster_members(node_a) != 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert kcctl.cluster_members(node_a) == 2
    refreshed = refresh(keycloak_cluster.node_issuer(0), erin["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    me = userinfo(keycloak_cluster.node_issuer(0), refreshed.json()["access_token"])
    assert me.json()["preferred_username"] == "erin"


def test_a_killed_node_costs_at_most_the_refresh_in_flight(
    keycloak_cluster: ClusterUnderTest,
) -> None:
    issuer = keycloak_cluster.issuer
    node_b = keycloak_cluster.instances[1]
    frank = cli_tokens(issuer, "frank")
    with RefreshingUser(issuer, frank) as user:
        killed = time.monotonic()
        os.killpg(node_b.pid, signal.SIGKILL)  # no goodbye to the cluster
        assert node_b.process is not None
        node_b.process.wait(timeout=30)
        gone = time.monotonic()
    failed, what = user.report(killed, gone)
    print(f"\nnode B killed (SIGKILL); {what}")
    # The refresh node B had received, while it died, may be lost (nginx resends no POST
    # a node got); none begun once it was gone is.
    assert all(began < gone for began, _, _ in failed), failed
    assert len(failed) <= 1, failed
    fresh = cli_tokens(issuer, "frank")
    assert userinfo(issuer, fresh["access_token"]).json()["preferred_username"] == "frank"
