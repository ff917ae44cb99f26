"""The platform at scale on this machine, for bench_scale: what `make up REPLICAS=2
DB=postgres` runs, on free ports and in temporary folders.

PostgreSQL and Redis from the system's packages (portal.hosting.localdb), two Keycloak
nodes clustered on that PostgreSQL behind one balancing nginx (kcctl's cluster,
portal.hosting.keycloak_proxy), and a LocalPlatform with two portal replicas whose data
is on PostgreSQL and whose sessions are in Redis.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import kcctl
from bench.stack import say
from portal.hosting.keycloak_proxy import KeycloakProxy
from portal.hosting.local import LocalPlatform
from portal.hosting.localdb import PostgresServer, RedisServer, free_port
from tests.live_stack import wait_http

__all__ = ["ScaleStack", "scale_stack"]


@dataclass
class ScaleStack:
    """What runs: the servers, the Keycloak cluster and its balancer, the platform."""

    postgres: PostgresServer
    redis: RedisServer
    cluster: kcctl.Cluster
    keycloak_url: str
    platform: LocalPlatform
    database_url: str

    @property
    def url(self) -> str:
        return self.platform.url


def _folder(prefix: str) -> Path:
    # Not a 0700 folder: PostgreSQL runs as the `postgres` user and must enter it.
    return Path(tempfile.mkdtemp(prefix=prefix))


def _keycloak_database(postgres: PostgresServer) -> kcctl.Database:
    postgres.create_database("keycloak")
    return kcctl.Database(
        host="127.0.0.1",
        port=postgres.port,
        name="keycloak",
        user=postgres.user,
        password=postgres.password,
    )


@contextmanager
def scale_stack(
    replicas: int = 2, nodes: int = 2, env: dict[str, str] | None = None
) -> Iterator[ScaleStack]:
    """Everything above, started in order; all of it stopped when the block ends."""
    folders = [_folder(f"bench-scale-{part}-") for part in ("pg", "redis", "kc", "platform")]
    pg_dir, redis_dir, kc_dir, data_dir = folders
    postgres = PostgresServer(pg_dir, free_port())
    redis = RedisServer(redis_dir, free_port(), persistent=False)
    front_port, keycloak_port = free_port(), free_port()
    platform = LocalPlatform(data_dir=data_dir, listen=f"127.0.0.1:{front_port}", replicas=replicas)
    keycloak_url = f"http://127.0.0.1:{keycloak_port}"
    cluster: kcctl.Cluster | None = None
    balancer: subprocess.Popen | None = None
    try:
        postgres.start()
        redis.start()
        database_url = postgres.create_database("portal")
        cluster = kcctl.Cluster.on_ports(
            kc_dir / "nodes",
            public_url=keycloak_url,
            database=_keycloak_database(postgres),
            count=nodes,
            http_ports=[free_port() for _ in range(nodes)],
            management_ports=[free_port() for _ in range(nodes)],
            # JGroups' failure detection uses port + 50000: below 15536, away from 7800.
            jgroups_ports=kcctl.free_jgroups_ports(nodes, first=random.randrange(10000, 15000)),
        )
        proxy = KeycloakProxy(
            kc_dir / "proxy",
            f"127.0.0.1:{keycloak_port}",
            [f"127.0.0.1:{node.http_port}" for node in cluster.nodes],
        )
        proxy.check()
        with open(kc_dir / "proxy.log", "ab") as log:
            balancer = subprocess.Popen(proxy.command(), stdout=log, stderr=subprocess.STDOUT)
        began = time.monotonic()
        realm = kcctl.patch_realm(portal_url=platform.url)
        kcctl.start_cluster(cluster, realm=realm, timeout=600)
        wait_http(f"{keycloak_url}/realms/dash/.well-known/openid-configuration", timeout=60)
        say(f"keycloak: {nodes} nodes on PostgreSQL in {time.monotonic() - began:.0f} s")
        platform.env = {
            **(env or {}),
            "KEYCLOAK_URL": keycloak_url,
            "DATABASE_URL": database_url,
            "PORTAL_SESSION_BACKEND": "redis",
            "REDIS_URL": redis.url(),
        }
        began = time.monotonic()
        platform.start(say=say, timeout=1800)
        say(f"platform: {replicas} portal replicas up in {time.monotonic() - began:.0f} s")
        yield ScaleStack(postgres, redis, cluster, keycloak_url, platform, database_url)
    finally:
        say("stopping the platform, Keycloak, Redis and PostgreSQL")
        try:
            platform.stop()
        finally:
            if cluster is not None:
                kcctl.stop_cluster(cluster)
            if balancer is not None:
                balancer.terminate()
                balancer.wait(timeout=10)
            redis.stop()
            postgres.stop("immediate")
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
