"""Structure of docker-compose.yml, its Dockerfiles and docker/, and the version pin.

No Docker engine runs on the development machines, so these tests read the files: the
services, ports, health checks and start order, the realm mount and the issuer settings
(one Keycloak URL for the browser and the portal), the front door (nginx with the config
portal/hosting/frontdoor.py renders) and the socket volumes it shares with the portal, and
the portal container's entrypoint (docker/container.py, run here with stand-ins). They
also make sure .env is the only file that spells out the Keycloak version.
"""

from __future__ import annotations

import grp
import http.server
import importlib.util
import os
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
    assert {"keycloak", *KEYCLOAK_NODES, "postgres", "portal", "frontdoor"} <= set(SERVICES)


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
    assert published("portal") == {}
    assert published("postgres") == {}


def test_portal_listens_only_on_its_socket() -> None:
    assert "ports" not in SERVICES["portal"] and "expose" not in SERVICES["portal"]
    assert not re.search(r"^EXPOSE\b", DOCKERFILE, re.MULTILINE)
    assert f"--bind=unix:{LAYOUT.portal_socket}" in container.gunicorn_command(LAYOUT)


@pytest.mark.parametrize(
    "service", ["keycloak", *KEYCLOAK_NODES, "postgres", "portal", "frontdoor"]
)
def test_every_service_has_a_healthcheck(service: str) -> None:
    assert healthcheck_text(service).split()[0] in ("CMD", "CMD-SHELL")


def test_keycloak_healthcheck_needs_no_curl() -> None:
    text = healthcheck_text("keycloak-node-1")
    assert "/dev/tcp/127.0.0.1/9000" in text
    assert "/health/ready" in text
    assert "curl" not in text and "wget" not in text
    # A literal $ must be doubled in compose files, or compose interpolates it.
    assert not re.search(r"(?<!\$)\$[a-z]", text)


def test_start_order_waits_for_health() -> None:
    healthy = {"condition": "service_healthy"}
    assert SERVICES["keycloak-node-1"]["depends_on"] == {"postgres": healthy}
    # The second node starts once the first has the schema and the realm.
    assert SERVICES["keycloak-node-2"]["depends_on"] == {
        "postgres": healthy,
        "keycloak-node-1": healthy,
    }
    assert SERVICES["keycloak"]["depends_on"] == {
        "keycloak-node-1": healthy,
        "keycloak-node-2": {"condition": "service_started"},  # its name resolves
    }
    assert SERVICES["portal"]["depends_on"] == {"keycloak": {"condition": "service_healthy"}}
    assert SERVICES["frontdoor"]["depends_on"] == {"portal": {"condition": "service_healthy"}}


def test_portal_service() -> None:
    portal = SERVICES["portal"]
    assert portal["build"] in (".", {"context": "."})
    # The image's command (docker/container.py start) runs; compose does not replace it.
    assert "command" not in portal and "entrypoint" not in portal
    assert portal["init"] is True  # tini reaps what the daemonised supervisord leaves
    env = env_of("portal")
    assert env["PORTAL_DATA_DIR"] == str(LAYOUT.data_dir)
    assert env["PORTAL_APPS_DIR"] == str(LAYOUT.apps_dir)
    assert mounts("portal")[str(LAYOUT.data_dir)] == ("portal-data", False)
    assert "docker/container.py healthcheck" in healthcheck_text("portal")
    assert SERVICES["portal"]["healthcheck"]["start_period"]  # the first start builds apps


def test_apps_reach_the_front_door() -> None:
    # DASH_PLATFORM_URL of the apps, which run in the portal container: not 127.0.0.1.
    assert env_of("portal")["PORTAL_INTERNAL_URL"] == "http://frontdoor:8050"


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
    assert f"server unix:{LAYOUT.portal_socket};" in NGINX_CONF
    assert "proxy_pass http://app_$app_slug;" in NGINX_CONF
    # The portal writes each app's upstream into the shared apps-run volume; the front
    # door's run.sh reloads nginx when they change.
    assert f"include {LAYOUT.apps_run_dir}/.routes/*.conf;" in NGINX_CONF
    run_sh = (ROOT / "docker" / "frontdoor" / "run.sh").read_text()
    assert "nginx -s reload" in run_sh and f"{LAYOUT.apps_run_dir}/.routes" in run_sh
    assert "include /etc/nginx/mime.types;" in NGINX_CONF
    assert "auth_request /_frontdoor/auth;" in NGINX_CONF


# --------------------------------------------------------------------------- sockets


def test_socket_volumes_are_shared_at_the_same_paths() -> None:
    portal, frontdoor = mounts("portal"), mounts("frontdoor")
    shared = {str(LAYOUT.run_dir): "portal-run", str(LAYOUT.apps_run_dir): "apps-run"}
    for path, volume in shared.items():
        assert portal[path] == (volume, False)
        assert frontdoor[path] == (volume, True)  # nginx only connects
        assert volume in COMPOSE["volumes"]
    # The front door sees the sockets, not the portal's data (database, bundles, secrets).
    assert set(frontdoor) == set(shared)


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


def test_entrypoint_runs_what_local_mode_runs_in_order(tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []

    class FakeSupervisor:
        def __init__(self, root: Path) -> None:
            calls.append(f"supervisor {root}")

        def start(self) -> None:
            calls.append("supervisord start")

        def stop(self) -> None:
            calls.append("supervisord stop")

    def fake_run(self, command: list[str]) -> int:
        calls.append(" ".join(command[1:]))
        return 0

    group = grp.getgrgid(os.getgid()).gr_name
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PORTAL_APPS_DIR", raising=False)
    monkeypatch.setenv("PORTAL_FRONTDOOR_GROUP", group)
    monkeypatch.setattr(container, "Supervisor", FakeSupervisor)
    monkeypatch.setattr(container.Children, "run", fake_run)
    monkeypatch.setattr(container.signal, "signal", lambda *args: None)
    assert container.main(["start"]) == 0
    layout = container.layout_from_env()
    assert layout.apps_dir == tmp_path / "data" / "apps"
    assert calls == [
        f"supervisor {layout.supervisor_dir}",
        "supervisord start",
        "-m flask --app portal.wsgi db upgrade",
        "-m flask --app portal.wsgi platform start",
        " ".join(container.gunicorn_command(layout)[1:]),
        "supervisord stop",
    ]
    gunicorn = container.gunicorn_command(layout)
    assert gunicorn[1:3] == ["-m", "gunicorn"] and gunicorn[-1] == "portal.wsgi:app"
    assert "--workers=2" in gunicorn and "--daemon" not in " ".join(gunicorn)
    # The portal's socket folder: nginx's group enters it, nobody else.
    run_dir = layout.run_dir.stat()
    assert oct(run_dir.st_mode & 0o777) == oct(0o750) and run_dir.st_gid == os.getgid()
    assert oct(layout.data_dir.stat().st_mode & 0o777) == oct(0o711)


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
    monkeypatch.setenv("PORTAL_FRONTDOOR_GROUP", grp.getgrgid(os.getgid()).gr_name)
    monkeypatch.setattr(container, "Supervisor", FakeSupervisor)
    monkeypatch.setattr(container.Children, "run", lambda self, command: 1)
    monkeypatch.setattr(container.signal, "signal", lambda *args: None)
    assert container.main(["start"]) == 1
    assert calls == ["start", "stop"]


class _Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_healthcheck_asks_the_portal_socket(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path))
    layout = container.layout_from_env()
    layout.run_dir.mkdir()
    assert container.main(["healthcheck"]) == 1  # nothing listens yet

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    class Handler(_Healthz):
        def address_string(self) -> str:
            return "unix"

    with Server(str(layout.portal_socket), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            assert container.main(["healthcheck"]) == 0
            assert container.http_status_line(layout.portal_socket, "/nope").split()[1] == "404"
        finally:
            server.shutdown()


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
    assert re.search(r"^CMD \[\"python\", \"docker/container.py\", \"start\"\]$", DOCKERFILE, re.M)
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
