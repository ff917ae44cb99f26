"""Structure of docker-compose.yml, its Dockerfiles and docker/, and the version pin.

No Docker engine runs on the development machines, so these tests read the files: the
services, ports, health checks and start order, the realm mount and the issuer settings
(one Keycloak URL for the browser and the portal), the front door (nginx with the config
portal/hosting/frontdoor.py renders) and the volumes it shares with the apps, the portal
replicas with their shared database and sessions, and the entrypoints of the apps and
portal containers (docker/container.py, run here with stand-ins). They also make sure
.env is the only file that spells out the Keycloak version.
"""

from __future__ import annotations

import http.server
import importlib.util
import re
import socketserver
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.live_stack import free_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
FRONTDOOR_DIR = ROOT / "docker" / "frontdoor"
FRONTDOOR_DOCKERFILE = (FRONTDOOR_DIR / "Dockerfile").read_text(encoding="utf-8")
NGINX_CONF = (FRONTDOOR_DIR / "nginx.conf").read_text(encoding="utf-8")
KEYCLOAK_CONF = (ROOT / "docker" / "keycloak" / "nginx.conf").read_text(encoding="utf-8")


def _load_container() -> ModuleType:
    """docker/container.py (the portal container's entrypoint) as a module."""
    spec = importlib.util.spec_from_file_location("docker_container", ROOT / "docker/container.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


container = _load_container()
LAYOUT = container.CONTAINER_LAYOUT


def env_of(service: str) -> dict[str, str]:
    """A service's environment as a dict (compose allows a mapping or a KEY=VALUE list)."""
    env = SERVICES[service].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def published(service: str) -> dict[int, tuple[str, int]]:
    """Container port -> (host address, host port) for a service's short-syntax ports."""
    mapping = {}
    for spec in SERVICES[service].get("ports", []):
        parts = str(spec).split(":")
        host_ip = parts[0] if len(parts) == 3 else "*"  # no address: every interface
        mapping[int(parts[-1])] = (host_ip, int(parts[-2]))
    return mapping


def mounts(service: str) -> dict[str, tuple[str, bool]]:
    """Container path -> (volume or host path, read-only) for a service's short-syntax mounts."""
    result = {}
    for spec in SERVICES[service].get("volumes", []):
        source, target, *options = str(spec).split(":")
        result[target] = (source, "ro" in options)
    return result


def healthcheck_text(service: str) -> str:
    test = SERVICES[service]["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def read_version() -> str:
    match = re.search(r"^KEYCLOAK_VERSION=(\S+)", (ROOT / ".env").read_text(), re.MULTILINE)
    assert match, ".env must set KEYCLOAK_VERSION"
    return match.group(1)


# --------------------------------------------------------------------------- services


#: The Keycloak nodes, behind the one Keycloak URL (the service ``keycloak``).
KEYCLOAK_NODES = ("keycloak-node-1", "keycloak-node-2")


def test_services() -> None:
    expected = {"keycloak", *KEYCLOAK_NODES, "postgres", "platform-db", "redis", "apps"}
    assert expected | {"portal", "frontdoor"} <= set(SERVICES)


def test_keycloak_image_follows_env_version() -> None:
    for node in KEYCLOAK_NODES:
        assert SERVICES[node]["image"] == "quay.io/keycloak/keycloak:${KEYCLOAK_VERSION}"
    assert str(SERVICES["postgres"]["image"]).startswith("postgres")


def command_of(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return command if isinstance(command, list) else command.split()


def test_keycloak_runs_dev_mode_and_imports_the_realm_once() -> None:
    assert command_of("keycloak-node-1") == ["start-dev", "--import-realm"]
    # The second node finds the realm in the database; importing it too would race.
    assert command_of("keycloak-node-2") == ["start-dev"]
    mounts = [str(v).removesuffix(":ro") for v in SERVICES["keycloak-node-1"]["volumes"]]
    assert "./realm-export.json:/opt/keycloak/data/import/realm-export.json" in mounts
    assert (ROOT / "realm-export.json").is_file()


@pytest.mark.parametrize("node", KEYCLOAK_NODES)
def test_keycloak_nodes_cluster_on_postgres(node: str) -> None:
    env = env_of(node)
    assert env["KC_DB"] == "postgres"
    assert env["KC_DB_URL"].startswith("jdbc:postgresql://postgres:5432/")
    assert env["KC_DB_USERNAME"]
    assert env["KC_DB_PASSWORD"]
    assert env["KC_HEALTH_ENABLED"] == "true"
    # Distributed caches (dev mode's default is local), members found through the database.
    assert env["KC_CACHE"] == "ispn"
    assert env["KC_CACHE_STACK"] == "jdbc-ping"
    assert env == env_of("keycloak-node-1")


def test_one_keycloak_url_balances_the_nodes() -> None:
    balancer = SERVICES["keycloak"]
    assert re.fullmatch(r"nginx:\d+\.\d+(\.\d+)?-alpine", balancer["image"])
    assert mounts("keycloak")["/etc/nginx/nginx.conf"] == ("./docker/keycloak/nginx.conf", True)
    assert container.keycloak_proxy_conf_text() == KEYCLOAK_CONF, (
        "docker/keycloak/nginx.conf is stale: run `python docker/container.py nginx-conf`"
    )
    for node in KEYCLOAK_NODES:
        assert f"server {node}:8080 " in KEYCLOAK_CONF
    assert re.search(r"^\s*listen 8080;$", KEYCLOAK_CONF, re.MULTILINE)
    assert "proxy_next_upstream error timeout http_502 http_503;" in KEYCLOAK_CONF
    assert re.search(r"^user nginx nginx;$", KEYCLOAK_CONF, re.MULTILINE)
    assert "/realms/dash" in healthcheck_text("keycloak")


def test_one_issuer_for_browser_and_portal() -> None:
    keycloak, portal = env_of("keycloak-node-1"), env_of("portal")
    assert keycloak["KC_HOSTNAME"] == "http://127.0.0.1:8080"
    assert keycloak["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"
    assert portal["KEYCLOAK_URL"] == keycloak["KC_HOSTNAME"]
    # The portal's server-to-server calls go through the balancer as well.
    assert portal["KEYCLOAK_INTERNAL_URL"] == "http://keycloak:8080"
    # The portal has no TCP listener: Keycloak reaches it through the front door.
    assert (
        keycloak["DASH_BACKCHANNEL_LOGOUT_URL"] == "http://frontdoor:8050/auth/backchannel-logout"
    )


def test_portal_and_keycloak_share_the_client_secrets() -> None:
    keycloak, portal = env_of("keycloak-node-1"), env_of("portal")
    assert portal["KEYCLOAK_CLIENT_SECRET"] == keycloak["DASH_CLIENT_SECRET"]
    assert portal["KEYCLOAK_ADMIN_CLIENT_SECRET"] == keycloak["DASH_ADMIN_CLIENT_SECRET"]


def test_ports_match_local_mode() -> None:
    assert published("keycloak") == {8080: ("127.0.0.1", 8080)}
    assert all(published(node) == {} for node in KEYCLOAK_NODES)
    assert published("frontdoor") == {8050: ("127.0.0.1", 8050)}
    for service in ("portal", "apps", "postgres", "platform-db", "redis"):
        assert published(service) == {}, service


def test_portal_listens_only_inside_the_compose_network() -> None:
    assert "ports" not in SERVICES["portal"] and "expose" not in SERVICES["portal"]
    assert not re.search(r"^EXPOSE\b", DOCKERFILE, re.MULTILINE)
    assert f"--bind=0.0.0.0:{container.PORTAL_PORT}" in container.gunicorn_command()


def networks_of(service: str) -> set[str]:
    return set(SERVICES[service].get("networks", ["default"]))


def test_apps_reach_the_portal_only_through_the_front_door() -> None:
    # The portal listens on TCP: the apps' container shares no network with it.
    assert not networks_of("apps") & networks_of("portal")
    assert networks_of("portal") <= networks_of("frontdoor")
    assert networks_of("apps") <= networks_of("frontdoor")
    # Keycloak's back-channel logout goes through the front door.
    assert networks_of("keycloak") & networks_of("frontdoor")
    for service in ("keycloak", "platform-db", "redis"):
        assert networks_of(service) & networks_of("portal"), service
    for node in KEYCLOAK_NODES:  # the balancer reaches the nodes, they their database
        assert networks_of(node) & networks_of("keycloak") & networks_of("postgres"), node
        assert networks_of(node) & networks_of("frontdoor"), node  # back-channel logout
    assert networks_of("platform-db") & networks_of("apps")  # `flask db upgrade` runs there
    assert set(COMPOSE["networks"]) >= networks_of("frontdoor")


SERVICES_WITH_HEALTHCHECKS = [
    "keycloak",
    *KEYCLOAK_NODES,
    "postgres",
    "platform-db",
    "redis",
    "apps",
    "portal",
]


@pytest.mark.parametrize("service", [*SERVICES_WITH_HEALTHCHECKS, "frontdoor"])
def test_every_service_has_a_healthcheck(service: str) -> None:
    assert healthcheck_text(service).split()[0] in ("CMD", "CMD-SHELL")


def test_keycloak_healthcheck_needs_no_curl() -> None:
    text = healthcheck_text("keycloak-node-1")
    assert "/dev/tcp/127.0.0.1/9000" in text
    assert "/health/ready" in text
    assert "curl" not in text and "wget" not in text
    # A literal $ must be doubled in compose files, or compose interpolates it.
    assert not re.search(r"(?<!\$)\$[a-z]", text)


def healthy(*services: str) -> dict[str, dict[str, str]]:
    return {service: {"condition": "service_healthy"} for service in services}


def test_start_order_waits_for_health() -> None:
    assert SERVICES["keycloak-node-1"]["depends_on"] == healthy("postgres")
    # The second node starts once the first has the schema and the realm.
    assert SERVICES["keycloak-node-2"]["depends_on"] == healthy("postgres", "keycloak-node-1")
    assert SERVICES["keycloak"]["depends_on"] == {
        **healthy("keycloak-node-1"),
        "keycloak-node-2": {"condition": "service_started"},  # its name resolves
    }
    assert SERVICES["apps"]["depends_on"] == healthy("platform-db")
    # The replicas start once the schema is current and the apps run.
    assert SERVICES["portal"]["depends_on"] == healthy("apps", "keycloak", "platform-db", "redis")
    assert SERVICES["frontdoor"]["depends_on"] == healthy("portal")


def test_apps_and_portal_run_one_image() -> None:
    for service in ("apps", "portal"):
        assert SERVICES[service]["build"] in (".", {"context": "."}), service
        assert SERVICES[service]["image"] == "dash-platform-portal", service
        assert SERVICES[service]["init"] is True  # tini reaps what supervisord leaves
        assert "entrypoint" not in SERVICES[service]
        assert env_of(service) == env_of("portal"), service
        env = env_of(service)
        assert env["PORTAL_DATA_DIR"] == str(LAYOUT.data_dir)
        assert env["PORTAL_APPS_DIR"] == str(LAYOUT.apps_dir)
        # One data volume (bundles, environments, supervisord's socket) at the same paths.
        assert mounts(service)[str(LAYOUT.data_dir)] == ("portal-data", False)
    # The portal runs the image's command (docker/container.py portal); the apps their own.
    assert "command" not in SERVICES["portal"]
    assert SERVICES["apps"]["command"] == ["python", "docker/container.py", "apps"]
    assert "docker/container.py healthcheck" in healthcheck_text("portal")
    assert "docker/container.py healthcheck --apps" in healthcheck_text("apps")
    assert SERVICES["apps"]["healthcheck"]["start_period"]  # the first start builds apps


def test_portal_replicas_share_the_database_and_sessions() -> None:
    assert SERVICES["portal"]["deploy"]["replicas"] >= 2
    env, database = env_of("portal"), env_of("platform-db")
    assert env["PORTAL_SESSION_BACKEND"] == "redis"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    url = env["DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://") and "@platform-db:5432/" in url
    user, password = url.removeprefix("postgresql+psycopg://").split("@")[0].split(":", 1)
    assert (user, password) == (database["POSTGRES_USER"], database["POSTGRES_PASSWORD"])
    assert url.endswith("/" + database["POSTGRES_DB"])
    assert str(SERVICES["redis"]["image"]).startswith("redis:")
    assert str(SERVICES["platform-db"]["image"]).startswith("postgres:")
    for volume in ("platform-db-data", "redis-data"):
        assert volume in COMPOSE["volumes"]


def test_apps_reach_the_front_door() -> None:
    # DASH_PLATFORM_URL of the apps, which run in the apps container: not 127.0.0.1.
    assert env_of("apps")["PORTAL_INTERNAL_URL"] == "http://frontdoor:8050"


def test_sign_in_returns_to_where_people_reach_the_front_door() -> None:
    # The redirect_uri is built from PORTAL_PUBLIC_URL, never from the request's Host.
    assert env_of("portal")["PORTAL_PUBLIC_URL"] == "http://127.0.0.1:8050"


# --------------------------------------------------------------------------- front door


def test_frontdoor_service() -> None:
    frontdoor = SERVICES["frontdoor"]
    assert frontdoor["build"] in ("./docker/frontdoor", {"context": "./docker/frontdoor"})
    assert "command" not in frontdoor and "entrypoint" not in frontdoor
    text = healthcheck_text("frontdoor")
    assert "http://127.0.0.1:8050/healthz" in text


def test_frontdoor_image_is_pinned_official_nginx() -> None:
    images = re.findall(r"^FROM\s+(\S+)", FRONTDOOR_DOCKERFILE, re.MULTILINE)
    assert len(images) == 1
    assert re.fullmatch(r"nginx:\d+\.\d+(\.\d+)?-alpine", images[0]), images[0]
    assert re.search(r"^COPY nginx\.conf /etc/nginx/nginx\.conf$", FRONTDOOR_DOCKERFILE, re.M)
    assert "nginx -t" in FRONTDOOR_DOCKERFILE
    # The folders nginx.conf names exist in the image; its error log is the container's.
    root = container.FRONTDOOR_ROOT
    assert f"{root}/tmp" in FRONTDOOR_DOCKERFILE and f"{root}/auth-cache" in FRONTDOOR_DOCKERFILE
    assert f"ln -sf /dev/stderr {root}/error.log" in FRONTDOOR_DOCKERFILE


def test_frontdoor_config_is_what_frontdoor_py_renders() -> None:
    assert container.nginx_conf_text() == NGINX_CONF, (
        "docker/frontdoor/nginx.conf is stale: run `python docker/container.py nginx-conf`"
    )
    done = subprocess.run(
        [sys.executable, str(ROOT / "docker/container.py"), "nginx-conf", "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_frontdoor_config_for_the_containers() -> None:
    assert re.search(r"^user nginx nginx;$", NGINX_CONF, re.MULTILINE)
    assert re.search(r"^\s*listen 8050;$", NGINX_CONF, re.MULTILINE)
    # Every portal replica: Docker's DNS names them all, and nginx follows the changes.
    assert "upstream portal {\n    zone portal 64k;\n    server portal:8000 resolve;" in NGINX_CONF
    assert re.search(r"^  resolver 127\.0\.0\.11 valid=\d+s;$", NGINX_CONF, re.MULTILINE)
    assert "proxy_pass http://app_$app_slug;" in NGINX_CONF
    # The portal writes each app's upstream into the shared apps-run volume; the front
    # door's run.sh reloads nginx when they change.
    assert f"include {LAYOUT.apps_run_dir}/.routes/*.conf;" in NGINX_CONF
    run_sh = (ROOT / "docker" / "frontdoor" / "run.sh").read_text()
    assert "nginx -s reload" in run_sh and f"{LAYOUT.apps_run_dir}/.routes" in run_sh
    assert "include /etc/nginx/mime.types;" in NGINX_CONF
    assert "auth_request /_frontdoor/auth;" in NGINX_CONF


# --------------------------------------------------------------------------- sockets


def test_socket_volume_is_shared_at_the_same_paths() -> None:
    sockets = str(LAYOUT.apps_run_dir)
    assert mounts("apps")[sockets] == ("apps-run", False)
    assert mounts("portal")[sockets] == ("apps-run", False)  # it writes the routes
    assert mounts("frontdoor")[sockets] == ("apps-run", True)  # nginx only connects
    assert "apps-run" in COMPOSE["volumes"]
    # The front door sees the sockets, not the platform's data (bundles, secrets).
    assert set(mounts("frontdoor")) == {sockets}


def test_frontdoor_group_matches_nginx_workers() -> None:
    # nginx's workers run as group nginx, gid 101 in the official images; the portal image
    # has a group of that gid, named in PORTAL_FRONTDOOR_GROUP, for the socket folders.
    assert env_of("portal")["PORTAL_FRONTDOOR_GROUP"] == "frontdoor"
    assert re.search(r"^ARG FRONTDOOR_GID=101$", DOCKERFILE, re.MULTILINE)
    assert 'groupadd --gid "${FRONTDOOR_GID}" frontdoor' in DOCKERFILE
    assert container.FRONTDOOR_USER == "nginx nginx"


def test_image_env_matches_compose() -> None:
    env = env_of("portal")
    for name in ("PORTAL_DATA_DIR", "PORTAL_APPS_DIR", "PORTAL_FRONTDOOR_GROUP"):
        assert re.search(rf"\b{name}={re.escape(env[name])}\b", DOCKERFILE), name


# --------------------------------------------------------------------------- entrypoint


def test_apps_entrypoint_runs_what_local_mode_runs_in_order(tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []
    ready = tmp_path / "apps.ready"

    class FakeSupervisor:
        def __init__(self, root: Path) -> None:
            calls.append(f"supervisor {root}")

        def start(self) -> None:
            calls.append("supervisord start")

        def running(self) -> bool:
            # Asked once the apps are prepared: then the health check says ready. Gone
            # at once here, which ends the container (its restart policy starts it again).
            calls.append(f"running? ready={ready.exists()}")
            return False

        def stop(self) -> None:
            calls.append("supervisord stop")

    def fake_run(self, command: list[str]) -> int:
        calls.append(" ".join(command[1:]))
        return 0

    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PORTAL_APPS_DIR", raising=False)
    monkeypatch.setattr(container, "APPS_READY", ready)
    monkeypatch.setattr(container, "Supervisor", FakeSupervisor)
    monkeypatch.setattr(container.Children, "run", fake_run)
    monkeypatch.setattr(container.signal, "signal", lambda *args: None)
    assert container.main(["apps"]) == 1
    layout = container.layout_from_env()
    assert layout.apps_dir == tmp_path / "data" / "apps"
    assert calls == [
        f"supervisor {layout.supervisor_dir}",
        "supervisord start",
        "-m flask --app portal.wsgi db upgrade",
        "-m flask --app portal.wsgi platform start",
        "running? ready=True",
        "supervisord stop",
    ]
    assert not ready.exists()
    assert oct(layout.data_dir.stat().st_mode & 0o777) == oct(0o711)


def test_portal_entrypoint_runs_gunicorn_in_the_foreground(monkeypatch) -> None:
    commands: list[list[str]] = []
    monkeypatch.setattr(container.Children, "run", lambda self, c: commands.append(c) or 0)
    monkeypatch.setattr(container.signal, "signal", lambda *args: None)
    assert container.main(["portal"]) == 0
    assert commands == [container.gunicorn_command()]
    gunicorn = commands[0]
    assert gunicorn[1:3] == ["-m", "gunicorn"] and gunicorn[-1] == "portal.wsgi:app"
    assert "--workers=2" in gunicorn and "--daemon" not in " ".join(gunicorn)


def test_entrypoint_stops_when_the_apps_do_not_start(tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []

    class FakeSupervisor:
        def __init__(self, root: Path) -> None:
            pass

        def start(self) -> None:
            calls.append("start")

        def stop(self) -> None:
            calls.append("stop")

    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(container, "APPS_READY", tmp_path / "apps.ready")
    monkeypatch.setattr(container, "Supervisor", FakeSupervisor)
    monkeypatch.setattr(container.Children, "run", lambda self, command: 1)
    monkeypatch.setattr(container.signal, "signal", lambda *args: None)
    assert container.main(["apps"]) == 1
    assert calls == ["start", "stop"]
    assert container.main(["healthcheck", "--apps"]) == 1


class _Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_healthcheck_asks_the_portal_port(monkeypatch) -> None:
    monkeypatch.setattr(container, "PORTAL_PORT", free_port())
    assert container.main(["healthcheck"]) == 1  # nothing listens yet

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    with Server(("127.0.0.1", container.PORTAL_PORT), _Healthz) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            assert container.main(["healthcheck"]) == 0
        finally:
            server.shutdown()


def test_apps_healthcheck_wants_the_apps_prepared_and_supervisord(
    tmp_path: Path, monkeypatch
) -> None:
    running = {"now": True}
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(container, "APPS_READY", tmp_path / "apps.ready")
    monkeypatch.setattr(container.Supervisor, "running", lambda self: running["now"])
    assert container.main(["healthcheck", "--apps"]) == 1  # still preparing
    (tmp_path / "apps.ready").touch()
    assert container.main(["healthcheck", "--apps"]) == 0
    running["now"] = False
    assert container.main(["healthcheck", "--apps"]) == 1


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile() -> None:
    assert re.search(r"^FROM python:3\.11-slim\b", DOCKERFILE, re.MULTILINE)
    install = DOCKERFILE.index("pip install -r requirements.txt")
    assert install < DOCKERFILE.index("pip install --no-deps -e .")
    assert re.search(r"apt-get install .*\bbubblewrap\b", DOCKERFILE)
    assert re.search(r"^COPY \. \.$", DOCKERFILE, re.MULTILINE)  # portal/, app/, appkit/, docker/
    # Root, so each app gets its own uid (setpriv) and its folders (docs/hosting.md).
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert users in ([], ["root"]) and "user" not in SERVICES["portal"]
    assert re.search(r"^CMD \[\"python\", \"docker/container.py\", \"portal\"\]$", DOCKERFILE, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*docker/container.py\", \"healthcheck", DOCKERFILE, re.M)
    assert "docker/container.py nginx-conf --check" in DOCKERFILE


def test_dockerignore_keeps_what_the_image_needs() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in ("portal", "app", "appkit", "docker", "requirements.txt", "pyproject.toml"):
        assert needed not in ignored and f"{needed}/" not in ignored
    assert ".git" in ignored and ".venv" in ignored and "var" in ignored


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_image_has_the_hosting_tools() -> None:
    """The image installs the lock alone: it must pin what hosts the apps."""
    runtime = _pins(ROOT / "requirements.txt")
    for tool in ("supervisor", "uv", "gunicorn", "flask"):
        assert tool in runtime, tool


def test_no_downloads_in_dockerfiles() -> None:
    for text in (DOCKERFILE, FRONTDOOR_DOCKERFILE):
        assert not re.search(r"https?://", text)
        assert not re.search(r"^\s*(RUN|ADD).*\b(curl|wget)\b", text, re.MULTILINE)
        assert not re.search(r"^ADD\s", text, re.MULTILINE)


# --------------------------------------------------------------------------- version pin


def repo_text_files() -> list[Path]:
    """Tracked and untracked, not ignored files of the checkout."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / name for name in out.split("\0") if name and (ROOT / name).is_file()]


def test_env_pins_the_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", read_version())


def test_version_is_written_only_in_env() -> None:
    version = read_version()
    pattern = re.compile(rf"(?<![\d.]){re.escape(version)}(?![\d])")
    offenders = []
    for path in repo_text_files():
        if path.name == ".env" and path.parent == ROOT:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files
        if pattern.search(text):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"Keycloak {version} is written outside .env in: {offenders}"
