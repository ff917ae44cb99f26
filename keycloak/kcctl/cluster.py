"""Keycloak as a cluster: several nodes on one PostgreSQL database, behind one URL.

Keycloak 26's default cache stack, ``jdbc-ping``, finds the other nodes through a table in
the shared database, so no multicast and no list of hosts is needed. Sessions live in its
distributed caches (two owners each, and persisted in the database), so any node answers
any request: a balancer in front needs no sticky sessions.

On one host each node gets its own home, HTTP and management port, and JGroups port (the
cluster's TCP transport, bound to 127.0.0.1); JGroups' failure detection listens at that
port + :data:`JGROUPS_FD_OFFSET`. Every node advertises the cluster's public URL (the
balancer, ``--hostname``), so a token from one node names the same issuer and refreshes
on any other. The first node imports the realm; the others find it in the database.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kcctl.checks import port_free
from kcctl.errors import ConfigError, KeycloakError, PortInUseError
from kcctl.instance import Instance, Launch, prepare, start
from kcctl.process import stop
from kcctl.readiness import wait_ready
from kcctl.realm import REALM_FILE

__all__ = [
    "CLUSTER_BUILD",
    "JGROUPS_FD_OFFSET",
    "Cluster",
    "Database",
    "Node",
    "cluster_members",
    "free_jgroups_ports",
    "node_options",
    "node_settings",
    "prepare_node",
    "start_cluster",
    "stop_cluster",
]

#: JGroups' FD_SOCK2 listens at the transport's port plus this (its default, Keycloak's
#: documented 7800 and 57800).
JGROUPS_FD_OFFSET = 50000
#: The name of a node's build options (PostgreSQL, distributed caches) for its dev build.
CLUSTER_BUILD = "postgres-ispn"

_VIEW = re.compile(r"ISPN000094: Received new cluster view for channel \S+: \[[^\]]*\] \((\d+)\)")


@dataclass(frozen=True)
class Database:
    """Keycloak's PostgreSQL database: where it is and whom Keycloak connects as."""

    host: str
    port: int
    name: str
    user: str
    password: str = field(repr=False)

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.name}"

    def env(self) -> dict[str, str]:
        """Keycloak's settings for it, as environment variables (``ps`` shows no secret)."""
        return {
            "KC_DB_URL": self.jdbc_url,
            "KC_DB_USERNAME": self.user,
            "KC_DB_PASSWORD": self.password,
        }


@dataclass(frozen=True)
class Node:
    """One node: its own folder, HTTP, management and JGroups ports."""

    instance_dir: Path
    http_port: int
    management_port: int
    jgroups_port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


@dataclass(frozen=True)
class Cluster:
    """Nodes on one database, reached by people at ``public_url`` (a balancer)."""

    public_url: str
    database: Database
    nodes: tuple[Node, ...]

    @classmethod
    def on_ports(
        cls,
        root: Path,
        *,
        public_url: str,
        database: Database,
        count: int = 2,
        http_ports: Sequence[int] | None = None,
        management_ports: Sequence[int] | None = None,
        jgroups_ports: Sequence[int] | None = None,
    ) -> Cluster:
        """``count`` nodes in ``root``/node-1, node-2 ...; by default on HTTP ports 8081,
        8082 ..., management ports 9001 ..., JGroups ports 7800 ...: beside the balancer's
        8080 and a single Keycloak's 9000."""
        if count < 1:
            raise ConfigError(f"a cluster needs at least one node, not {count}")
        http_ports = http_ports or [8081 + i for i in range(count)]
        management_ports = management_ports or [9001 + i for i in range(count)]
        jgroups_ports = jgroups_ports or [7800 + i for i in range(count)]
        nodes = tuple(
            Node(Path(root) / f"node-{i + 1}", http, management, jgroups)
            for i, (http, management, jgroups) in enumerate(
                zip(http_ports, management_ports, jgroups_ports, strict=True)
            )
        )
        return cls(public_url=public_url.rstrip("/"), database=database, nodes=nodes)


def node_options(node: Node) -> list[str]:
    """The command-line options that make ``node`` a cluster member (no secrets)."""
    return [
        "--db=postgres",
        # Dev mode defaults to a local cache; ispn is the production default that clusters.
        "--cache=ispn",
        "--cache-stack=jdbc-ping",
        "--cache-embedded-network-bind-address=127.0.0.1",
        f"--cache-embedded-network-bind-port={node.jgroups_port}",
    ]


def free_jgroups_ports(count: int, first: int = 7800) -> list[int]:
    """``count`` ports from ``first`` on whose failure-detection twins are free as well."""
    ports: list[int] = []
    port = first
    while len(ports) < count and port + JGROUPS_FD_OFFSET < 65536:
        if port_free(port) and port_free(port + JGROUPS_FD_OFFSET):
            ports.append(port)
        port += 1
    if len(ports) < count:
        raise ConfigError(f"no {count} free JGroups ports from {first} on")
    return ports


def node_settings(
    cluster: Cluster,
    index: int,
    *,
    realm: Mapping[str, Any] | Path = REALM_FILE,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """:func:`kcctl.prepare`'s settings for node ``index`` (the first imports the realm)."""
    node = cluster.nodes[index]
    for port in (node.jgroups_port, node.jgroups_port + JGROUPS_FD_OFFSET):
        if not port_free(port):
            raise PortInUseError(port, "Keycloak cluster (JGroups)")
    return {
        "http_port": node.http_port,
        "management_port": node.management_port,
        "instance_dir": node.instance_dir,
        "realm": realm,
        "env": {**(env or {}), **cluster.database.env()},
        "public_url": cluster.public_url,
        "import_realm": index == 0,
        "options": node_options(node),
        "build": CLUSTER_BUILD,
    }


def prepare_node(cluster: Cluster, index: int, **settings: Any) -> Launch:
    """How to run node ``index`` (for a supervisor); ``settings`` as :func:`node_settings`."""
    return prepare(**node_settings(cluster, index, **settings))


def start_cluster(
    cluster: Cluster,
    *,
    realm: Mapping[str, Any] | Path = REALM_FILE,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    out: TextIO | None = sys.stderr,
) -> list[Instance]:
    """Start every node as a child of this process; return once each one is ready.

    The first node creates the schema and imports the realm before the others start
    (they would otherwise race for both); the others then start side by side. On failure
    every node started is stopped again.
    """
    instances: list[Instance] = []
    try:
        first = start(**node_settings(cluster, 0, realm=realm, env=env))
        instances.append(first)
        wait_ready(first, timeout, out=out)
        for index in range(1, len(cluster.nodes)):
            instances.append(start(**node_settings(cluster, index, realm=realm, env=env)))
        for instance in instances[1:]:
            wait_ready(instance, timeout, out=out)
    except (KeycloakError, KeyboardInterrupt):
        stop_cluster(cluster)
        raise
    return instances


def stop_cluster(cluster: Cluster, timeout: float = 30) -> None:
    """Stop every node that runs (the last ones first)."""
    for node in reversed(cluster.nodes):
        stop(node.instance_dir, timeout)


def cluster_members(instance: Instance) -> int:
    """How many members the node's latest cluster view has, from its log (0: none yet)."""
    try:
        text = instance.log_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    views = _VIEW.findall(text)
    return int(views[-1]) if views else 0
