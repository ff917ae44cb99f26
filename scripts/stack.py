"""Run the whole stack for `make up` / `make down` / `make logs`.

With a Docker engine it uses docker-compose.yml; without one it runs the platform as
local processes (portal.hosting.local): one supervisord, in var/apps/supervisor, runs the
Keycloak distribution on the local Java (kcctl, keycloak/kcctl/), the apps, the portal under
gunicorn and nginx as the front door, restarts whichever exits and keeps their logs
(rotated) in var/. `make down` stops supervisord and with it every one of them. It says
which mode it chose.

`make up REPLICAS=2 DB=postgres` runs the larger installation's engines: REPLICAS portal
processes behind the front door (compose: `--scale portal=REPLICAS`), and with
DB=postgres the platform's data on PostgreSQL and its sessions on Redis.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import kcctl
from portal.hosting.frontdoor import FrontDoorError
from portal.hosting.keycloak_proxy import KeycloakProxy
from portal.hosting.local import LocalPlatform, PlatformStartError
from portal.hosting.localdb import PostgresServer, RedisServer, ServerError
from portal.hosting.platform_programs import (
    PLATFORM_LOG_BACKUPS,
    PLATFORM_LOG_MAXBYTES,
    PLATFORM_PROGRAMS,
    PLATFORM_RETRIES,
    nginx_program,
)
from portal.hosting.programs import Program, carried_env
from portal.hosting.supervisor import Supervisor, SupervisorError

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PORTAL_URL = "http://127.0.0.1:8050"
KEYCLOAK_URL = "http://127.0.0.1:8080"

#: `make up DB=postgres`: PostgreSQL and Redis beside any system ones (5432, 6379).
POSTGRES_DIR, POSTGRES_PORT = VAR / "postgres", 5433
REDIS_DIR, REDIS_PORT = VAR / "redis", 6380
PLATFORM_DATABASE = "platform"

#: Keycloak's supervisord program under `make up`.
KEYCLOAK = "platform-keycloak"
KEYCLOAK_DIR = VAR / "keycloak"
#: `make up DB=postgres`: the nodes (platform-keycloak-1, -2 ...) and the balancer in front.
KEYCLOAK_CLUSTER_DIR = VAR / "keycloak-cluster"
KEYCLOAK_PROXY = "platform-keycloak-proxy"
#: The database of Keycloak's own on the platform's PostgreSQL.
KEYCLOAK_DATABASE = "keycloak"

DEMO_USERS = """\
  user   password         roles of client dash     groups
  admin  admin-password   admin, licensed_user
  alice  alice-password   licensed_user            /sales/east
  bob    bob-password     viewer                   /sales/east
  carol  carol-password   viewer                   /sales/east/managers
  dave   dave-password    viewer
  erin   erin-password    licensed_user            /finance
  frank  frank-password   viewer                   /sales/west"""


def _docker_engine() -> bool:
    if not shutil.which("docker"):
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


def _platform(replicas: int = 1, env: dict[str, str] | None = None) -> LocalPlatform:
    return LocalPlatform(data_dir=VAR, listen="127.0.0.1:8050", replicas=replicas, env=env or {})


def local_servers() -> tuple[PostgresServer, RedisServer]:
    """`make up DB=postgres`'s PostgreSQL and Redis (the system's packages), data in var/."""
    return PostgresServer(POSTGRES_DIR, POSTGRES_PORT), RedisServer(REDIS_DIR, REDIS_PORT)


def start_servers() -> tuple[PostgresServer, RedisServer]:
    """Start PostgreSQL and Redis unless they answer already (`make up` twice)."""
    servers = local_servers()
    for server in servers:
        try:
            ready = server.is_ready()
        except OSError:  # Redis's password is written at its first start
            ready = False
        if not ready:
            server.start()
            print(f"{type(server).__name__}: 127.0.0.1:{server.port}, log: {server.log}")
    return servers


def database_env(postgres: PostgresServer, redis: RedisServer) -> dict[str, str]:
    """The portal's settings for PostgreSQL (its database created when missing) and Redis."""
    return {
        "DATABASE_URL": postgres.create_database(PLATFORM_DATABASE),
        "PORTAL_SESSION_BACKEND": "redis",
        "REDIS_URL": redis.url(),
    }


def stop_servers() -> None:
    """Stop the PostgreSQL and Redis of an earlier `make up DB=postgres`, if any."""
    if not (POSTGRES_DIR.exists() or REDIS_DIR.exists()):
        return
    try:
        for server in local_servers():
            server.stop()
    except ServerError as error:
        print(f"servers: {error}")
        return
    print("PostgreSQL and Redis: stopped")


def up(replicas: int | None = None, db: str = "sqlite") -> None:
    started = time.monotonic()
    if _docker_engine():
        print("mode: docker compose (a Docker engine answered)")
        scale = [] if replicas is None else ["--scale", f"portal={replicas}"]
        command = ["docker", "compose", "up", "-d", "--build", "--wait", *scale]
        subprocess.run(command, cwd=ROOT, check=True)
    else:
        print("mode: local processes (no Docker engine answered): Keycloak on the local Java")
        supervisor = _platform().supervisor
        servers, env = None, {}
        try:
            if db == "postgres":
                servers = start_servers()
                env = database_env(*servers)
        except ServerError as error:
            sys.exit(f"servers: {error}")
        try:
            supervisor.start()
            if servers is None:
                start_keycloak(supervisor)
            else:  # two nodes clustered on the same PostgreSQL, behind 8080
                start_keycloak_cluster(supervisor, keycloak_database(servers[0]))
        except (kcctl.KeycloakError, SupervisorError) as error:
            sys.exit(f"keycloak: {error}")
        try:
            _platform(replicas or 1, env).start()
        except (PlatformStartError, FrontDoorError, SupervisorError, OSError) as error:
            sys.exit(f"platform: {error}")
    print(f"\nUp in {time.monotonic() - started:.0f} s.")
    replicas_note = f" ({replicas} portal processes)" if replicas and replicas > 1 else ""
    print(f"  Portal            {PORTAL_URL}/{replicas_note}")
    print(f"  Keycloak console  {KEYCLOAK_URL}/admin/master/console/#/dash  (admin / admin)")
    print(f"\nDemo users (dev only):\n{DEMO_USERS}\n\nStop with: make down")


def keycloak_program(launch: kcctl.Launch, name: str = KEYCLOAK) -> Program:
    """Keycloak as a supervisord program: TERM, then 60 s to finish, then KILL."""
    env, left_out = carried_env(launch.env)
    if left_out:
        print(f"keycloak: variables supervisord cannot pass on, left out: {', '.join(left_out)}")
    return Program(
        name=name,
        command=launch.command,
        directory=launch.home,
        env=env,
        log_path=launch.log_file,
        startsecs=10,
        startretries=PLATFORM_RETRIES,
        stopwaitsecs=60,
        priority=100,
        log_maxbytes=PLATFORM_LOG_MAXBYTES,
        log_backups=PLATFORM_LOG_BACKUPS,
    )


def start_keycloak(supervisor: Supervisor, timeout: float = 300) -> None:
    """Keycloak under the platform's supervisord (unless it runs already); wait until ready."""
    if kcctl.is_running(KEYCLOAK_DIR) is not None:  # started before it was supervised
        kcctl.up_command(instance_dir=KEYCLOAK_DIR, timeout=timeout)
        return
    instance = _supervise_keycloak(
        supervisor, KEYCLOAK, KEYCLOAK_DIR, lambda: kcctl.prepare(instance_dir=KEYCLOAK_DIR)
    )
    kcctl.wait_ready(instance, timeout, out=sys.stdout)


def _supervise_keycloak(
    supervisor: Supervisor, name: str, instance_dir: Path, prepare: Callable[[], kcctl.Launch]
) -> kcctl.Instance:
    """Keycloak from ``instance_dir`` as supervisord's program ``name``, unless it runs."""
    if supervisor.state(name).statename in ("STARTING", "RUNNING"):
        instance = kcctl.Instance.load(instance_dir)
        return dataclasses.replace(instance, pid=_running_pid(supervisor, name, instance.log_file))
    launch = prepare()
    instance_dir.chmod(0o700)  # its data: no app may read it
    offset = launch.instance(0).log_offset  # this run's lines follow the earlier ones
    supervisor.add(keycloak_program(launch, name))
    pid = _running_pid(supervisor, name, launch.log_file)
    instance = dataclasses.replace(launch.instance(pid), log_offset=offset)
    kcctl.remember(instance)
    print(f"{name} starting under supervisord (pid {instance.pid}), log: {launch.log_file}")
    return instance


def keycloak_database(server: PostgresServer) -> kcctl.Database:
    """Keycloak's own database on the platform's PostgreSQL (created when missing)."""
    server.create_database(KEYCLOAK_DATABASE)
    return kcctl.Database(
        host="127.0.0.1",
        port=server.port,
        name=KEYCLOAK_DATABASE,
        user=server.user,
        password=server.password,
    )


def keycloak_cluster(database: kcctl.Database, nodes: int = 2) -> kcctl.Cluster:
    """`make up DB=postgres`'s Keycloak: ``nodes`` nodes behind KEYCLOAK_URL (8080)."""
    return kcctl.Cluster.on_ports(
        KEYCLOAK_CLUSTER_DIR, public_url=KEYCLOAK_URL, database=database, count=nodes
    )


def keycloak_cluster_programs(cluster: kcctl.Cluster) -> list[str]:
    """The supervisord programs of the cluster's nodes, in order."""
    return [f"{KEYCLOAK}-{index + 1}" for index in range(len(cluster.nodes))]


def start_keycloak_cluster(
    supervisor: Supervisor, database: kcctl.Database, nodes: int = 2, timeout: float = 300
) -> kcctl.Cluster:
    """Keycloak clustered on ``database`` under the platform's supervisord, behind one URL.

    The balancer (nginx, portal.hosting.keycloak_proxy) listens on KEYCLOAK_URL; the first
    node creates the schema and imports the realm, then the others start and join it
    through the database. Returns once every node is ready.
    """
    cluster = keycloak_cluster(database, nodes)
    KEYCLOAK_CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    KEYCLOAK_CLUSTER_DIR.chmod(0o711)  # nginx's workers enter; each node's folder is 0700
    proxy = KeycloakProxy(
        KEYCLOAK_CLUSTER_DIR / "proxy",
        KEYCLOAK_URL.removeprefix("http://"),
        [f"127.0.0.1:{node.http_port}" for node in cluster.nodes],
    )
    proxy.check()
    supervisor.add(keycloak_proxy_program(proxy), keep_running=True)
    instances = []
    for index, name in enumerate(keycloak_cluster_programs(cluster)):
        node = cluster.nodes[index]
        instances.append(
            _supervise_keycloak(
                supervisor,
                name,
                node.instance_dir,
                lambda index=index: kcctl.prepare_node(cluster, index),
            )
        )
        if index == 0:  # the schema and the realm first
            kcctl.wait_ready(instances[0], timeout, out=sys.stdout)
    for instance in instances[1:]:
        kcctl.wait_ready(instance, timeout, out=sys.stdout)
    return cluster


def keycloak_proxy_program(proxy: KeycloakProxy) -> Program:
    """The balancer in front of the Keycloak nodes, as a supervisord program."""
    return nginx_program(
        KEYCLOAK_PROXY,
        proxy.command(),
        proxy.root,
        log_path=proxy.root.parent / "proxy.log",
        access_log_path=proxy.root.parent / "proxy-access.log",
        priority=90,
    )


def _running_pid(supervisor: Supervisor, name: str, log: Path, timeout: float = 60) -> int:
    """The pid of a program once supervisord counts it as started (it runs the command)."""
    deadline = time.monotonic() + timeout
    while (state := supervisor.state(name)).statename != "RUNNING":
        if state.statename not in ("STARTING", "BACKOFF") or time.monotonic() > deadline:
            raise kcctl.StartError(
                f"supervisord could not start {name} ({state.statename})\n"
                f"--- last lines of {log}:\n{kcctl.log_tail(log)}"
            )
        time.sleep(0.2)
    return state.pid


def down() -> None:
    if _docker_engine():
        subprocess.run(["docker", "compose", "down"], cwd=ROOT, check=True)
        return
    _platform().stop()  # supervisord: Keycloak, the portal, the front door, the apps
    print("Keycloak, portal, front door and apps: stopped")
    kcctl.stop(KEYCLOAK_DIR)  # a Keycloak started before it was supervised
    stop_servers()  # last: the portal and Keycloak used them


def logs(platform: LocalPlatform | None = None) -> None:
    """What each process is doing, and the end of each log (supervisord's says who exited
    when, and how)."""
    platform = platform or _platform()
    if platform.supervisor.running():
        print("==> processes (supervisord) <==")
        nodes = [f"{KEYCLOAK}-{i}" for i in range(1, 1 + len(_cluster_node_dirs()))]
        # Every portal replica next to the first (dict: in order, once each).
        portals = (*platform.portal_programs(), *PLATFORM_PROGRAMS)
        for name in dict.fromkeys((KEYCLOAK, KEYCLOAK_PROXY, *nodes, *portals)):
            state = platform.supervisor.state(name)
            pid = f"pid {state.pid}" if state.pid else ""
            if state.statename != "ABSENT":
                print(f"{name:24} {state.statename:9} {state.description or pid}")
    paths = platform.logs()
    keycloak = [KEYCLOAK_DIR / kcctl.LOG_FILE]
    if _cluster_node_dirs():  # `make up DB=postgres` ran here: its nodes and their balancer
        keycloak += [node / kcctl.LOG_FILE for node in _cluster_node_dirs()]
        keycloak.append(KEYCLOAK_CLUSTER_DIR / "proxy.log")
    for path in [*paths[:1], *keycloak, *paths[1:]]:
        print(f"==> {path} <==")
        print(path.read_text(errors="replace")[-6000:] if path.exists() else "(no log yet)")


def _cluster_node_dirs() -> list[Path]:
    return sorted(KEYCLOAK_CLUSTER_DIR.glob("node-*"))


def replicas_arg(text: str) -> int | None:
    """REPLICAS of `make up`: empty is the default (1 locally, compose's own count)."""
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"REPLICAS must be a whole number from 1, not {text!r}")
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "logs"])
    parser.add_argument("--replicas", type=replicas_arg, default=None, help="portal processes")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    if args.command == "up":
        up(args.replicas, args.db or "sqlite")
    else:
        {"down": down, "logs": logs}[args.command]()


if __name__ == "__main__":
    main()
