"""Unit tests of a Keycloak cluster's parts that need no Keycloak: how each node is started,
its ports, the dev build it starts from, and the balancer's nginx configuration.

The cluster itself runs in tests/integration/test_keycloak_cluster.py.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

import kcctl
import kcctl.cluster
import kcctl.home
import kcctl.instance
from portal.hosting.keycloak_proxy import KeycloakProxy
from scripts import stack
from tests.test_kcctl import make_fake_distribution

PUBLIC_URL = "http://127.0.0.1:18080"
DATABASE = kcctl.Database("127.0.0.1", 15432, "keycloak", "kc", "s3cret-db-password")


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> kcctl.Cluster:
    """Two nodes of a cluster, prepared against a fake distribution and Java."""
    dist = make_fake_distribution(tmp_path / "cache")
    monkeypatch.setattr(kcctl.instance, "ensure_distribution", lambda *a, **k: dist)
    monkeypatch.setattr(kcctl.instance, "preflight", lambda *a, **k: Path("/usr/bin/java"))
    return kcctl.Cluster.on_ports(
        tmp_path / "cluster",
        public_url=PUBLIC_URL + "/",
        database=DATABASE,
        count=2,
        http_ports=[18081, 18082],
        management_ports=[19001, 19002],
        jgroups_ports=kcctl.free_jgroups_ports(2, first=9800),
    )


def test_each_node_joins_the_cluster_on_its_own_ports(cluster: kcctl.Cluster) -> None:
    first, second = (kcctl.prepare_node(cluster, i) for i in range(2))
    for launch, node in zip((first, second), cluster.nodes, strict=True):
        options = launch.command[2:]
        assert "--db=postgres" in options
        assert "--cache=ispn" in options and "--cache-stack=jdbc-ping" in options
        assert "--cache-embedded-network-bind-address=127.0.0.1" in options
        assert f"--cache-embedded-network-bind-port={node.jgroups_port}" in options
        assert f"--http-port={node.http_port}" in options
        assert f"--http-management-port={node.management_port}" in options
        # Every node names the balancer: one issuer, whichever node signed the token.
        assert f"--hostname={PUBLIC_URL}" in options
        assert launch.instance(1).issuer == f"{PUBLIC_URL}/realms/dash"
        assert launch.instance(1).discovery_url.startswith(node.base_url)
        assert launch.home == node.instance_dir / "home"
    assert first.home != second.home
    assert len({node.jgroups_port for node in cluster.nodes}) == 2
    # The first node imports the realm; the second finds it in the database.
    assert "--import-realm" in first.command and "--import-realm" not in second.command


def test_the_database_password_is_not_on_the_command_line(cluster: kcctl.Cluster) -> None:
    launch = kcctl.prepare_node(cluster, 0, env={"DASH_CLIENT_SECRET": "x"})
    assert not any(DATABASE.password in part for part in launch.command)
    assert launch.env["KC_DB_PASSWORD"] == DATABASE.password
    assert launch.env["KC_DB_URL"] == "jdbc:postgresql://127.0.0.1:15432/keycloak"
    assert launch.env["KC_DB_USERNAME"] == "kc"
    assert launch.env["DASH_CLIENT_SECRET"] == "x"
    assert DATABASE.password not in repr(DATABASE) + repr(cluster)


def test_the_public_url_survives_the_state_file(cluster: kcctl.Cluster) -> None:
    launch = kcctl.prepare_node(cluster, 1)
    kcctl.remember(launch.instance(4242))
    loaded = kcctl.Instance.load(cluster.nodes[1].instance_dir)
    assert loaded.issuer == f"{PUBLIC_URL}/realms/dash"


def test_default_ports_sit_beside_a_single_keycloaks(tmp_path: Path) -> None:
    cluster = kcctl.Cluster.on_ports(tmp_path, public_url=PUBLIC_URL, database=DATABASE)
    assert [(n.http_port, n.management_port, n.jgroups_port) for n in cluster.nodes] == [
        (8081, 9001, 7800),
        (8082, 9002, 7801),
    ]
    assert [n.instance_dir.name for n in cluster.nodes] == ["node-1", "node-2"]
    with pytest.raises(kcctl.ConfigError):
        kcctl.Cluster.on_ports(tmp_path, public_url=PUBLIC_URL, database=DATABASE, count=0)


def test_jgroups_ports_skip_a_busy_port_and_a_busy_twin() -> None:
    first = kcctl.free_jgroups_ports(1, first=9700)[0]
    with socket.socket() as busy, socket.socket() as busy_twin:
        busy.bind(("127.0.0.1", first))
        busy.listen()
        busy_twin.bind(("127.0.0.1", first + 1 + kcctl.cluster.JGROUPS_FD_OFFSET))
        busy_twin.listen()
        ports = kcctl.free_jgroups_ports(2, first=first)
    assert first not in ports and first + 1 not in ports
    assert all(p + kcctl.cluster.JGROUPS_FD_OFFSET < 65536 for p in ports)


def test_a_busy_jgroups_port_is_named(cluster: kcctl.Cluster) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", cluster.nodes[0].jgroups_port))
        busy.listen()
        with pytest.raises(kcctl.PortInUseError, match="JGroups"):
            kcctl.prepare_node(cluster, 0)


def test_each_kind_of_node_starts_from_its_own_dev_build(tmp_path: Path) -> None:
    dist = make_fake_distribution(tmp_path / "cache")
    for build, marker in (("", b"default build"), ("postgres-ispn", b"cluster build")):
        template = kcctl.home.dev_build_dir(dist, build)
        template.mkdir()
        (template / "quarkus-application.dat").write_bytes(marker)
    single = kcctl.home.prepare_home(tmp_path / "single", dist)
    node = kcctl.home.prepare_home(tmp_path / "node", dist, "postgres-ispn")
    assert (single / "lib/quarkus/quarkus-application.dat").read_bytes() == b"default build"
    assert (node / "lib/quarkus/quarkus-application.dat").read_bytes() == b"cluster build"
    # A node's ready build is saved under its own name, never over the default one.
    shutil.rmtree(kcctl.home.dev_build_dir(dist, "postgres-ispn"))
    kcctl.home.remember_dev_build(node)
    saved = kcctl.home.dev_build_dir(dist, "postgres-ispn") / "quarkus-application.dat"
    assert saved.read_bytes() == b"cluster build"
    default = kcctl.home.dev_build_dir(dist) / "quarkus-application.dat"
    assert default.read_bytes() == b"default build"


def test_cluster_members_come_from_the_latest_view(tmp_path: Path) -> None:
    log = tmp_path / "keycloak.log"
    instance = kcctl.Instance(
        instance_dir=tmp_path, http_port=1, management_port=2, pid=1, log_file=log
    )
    assert kcctl.cluster_members(instance) == 0
    log.write_text(
        "INFO [org.infinispan.CLUSTER] ISPN000094: Received new cluster view for channel ISPN:"
        " [a-1234|0] (1) [a-1234]\n"
        "INFO [org.infinispan.CLUSTER] ISPN000094: Received new cluster view for channel ISPN:"
        " [a-1234|1] (2) [a-1234, b-5678]\n"
    )
    assert kcctl.cluster_members(instance) == 2


# --------------------------------------------------------------------------- the balancer


def test_the_balancer_takes_turns_and_passes_over_a_stopped_node(tmp_path: Path) -> None:
    proxy = KeycloakProxy(tmp_path, "127.0.0.1:18080", ["127.0.0.1:18081", "127.0.0.1:18082"])
    text = proxy.render()
    assert "listen 127.0.0.1:18080;" in text
    assert "server 127.0.0.1:18081 max_fails=1 fail_timeout=2s;" in text
    assert "server 127.0.0.1:18082 max_fails=1 fail_timeout=2s;" in text
    assert "proxy_next_upstream error timeout http_502 http_503;" in text
    assert "ip_hash" not in text and "sticky" not in text  # sessions live in the cluster
    assert "$upstream_addr" in text and "$request_uri" not in text  # no sign-in codes logged
    assert "proxy_pass http://keycloak;" in text


def test_nginx_accepts_the_balancer(tmp_path: Path) -> None:
    proxy = KeycloakProxy(tmp_path, "127.0.0.1:18080", ["127.0.0.1:18081"])
    proxy.check()  # nginx -t on the written file (nginx comes with `make test`)
    assert proxy.command()[-4:] == ["-e", "stderr", "-g", "daemon off;"]


# --------------------------------------------------------------------------- make up


def test_make_up_runs_each_node_as_a_program_without_secrets_in_its_command(
    cluster: kcctl.Cluster,
) -> None:
    programs = stack.keycloak_cluster_programs(cluster)
    assert programs == ["platform-keycloak-1", "platform-keycloak-2"]
    program = stack.keycloak_program(kcctl.prepare_node(cluster, 1), programs[1])
    assert program.name == "platform-keycloak-2"
    assert DATABASE.password not in " ".join(program.command)
    assert program.env["KC_DB_PASSWORD"] == DATABASE.password
    default = stack.keycloak_cluster(DATABASE)
    assert default.public_url == stack.KEYCLOAK_URL == "http://127.0.0.1:8080"
    assert [node.http_port for node in default.nodes] == [8081, 8082]
    assert default.nodes[0].instance_dir.parent == stack.KEYCLOAK_CLUSTER_DIR
