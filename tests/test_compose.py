"""Structure of docker-compose.yml and the portal's Dockerfile, and the version pin.

No Docker engine runs on the development machines, so these tests read the files: the
services, ports, health checks and start order, the realm mount and the issuer settings
(one Keycloak URL for the browser and the portal). They also make sure .env is the only
file that spells out the Keycloak version.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


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


def healthcheck_text(service: str) -> str:
    test = SERVICES[service]["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def read_version() -> str:
    match = re.search(r"^KEYCLOAK_VERSION=(\S+)", (ROOT / ".env").read_text(), re.MULTILINE)
    assert match, ".env must set KEYCLOAK_VERSION"
    return match.group(1)


# --------------------------------------------------------------------------- services


def test_services() -> None:
    assert {"keycloak", "postgres", "portal"} <= set(SERVICES)


def test_keycloak_image_follows_env_version() -> None:
    assert SERVICES["keycloak"]["image"] == "quay.io/keycloak/keycloak:${KEYCLOAK_VERSION}"
    assert str(SERVICES["postgres"]["image"]).startswith("postgres")


def test_keycloak_runs_dev_mode_with_realm_import() -> None:
    command = SERVICES["keycloak"]["command"]
    command = command if isinstance(command, list) else command.split()
    assert command[0] == "start-dev"
    assert "--import-realm" in command
    mounts = [str(v).removesuffix(":ro") for v in SERVICES["keycloak"]["volumes"]]
    assert "./realm-export.json:/opt/keycloak/data/import/realm-export.json" in mounts
    assert (ROOT / "realm-export.json").is_file()


def test_keycloak_uses_postgres() -> None:
    env = env_of("keycloak")
    assert env["KC_DB"] == "postgres"
    assert env["KC_DB_URL"].startswith("jdbc:postgresql://postgres:5432/")
    assert env["KC_DB_USERNAME"]
    assert env["KC_DB_PASSWORD"]
    assert env["KC_HEALTH_ENABLED"] == "true"


def test_one_issuer_for_browser_and_portal() -> None:
    keycloak, portal = env_of("keycloak"), env_of("portal")
    assert keycloak["KC_HOSTNAME"] == "http://127.0.0.1:8080"
    assert keycloak["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"
    assert portal["KEYCLOAK_URL"] == keycloak["KC_HOSTNAME"]
    assert portal["KEYCLOAK_INTERNAL_URL"] == "http://keycloak:8080"
    assert keycloak["DASH_BACKCHANNEL_LOGOUT_URL"] == "http://portal:8050/auth/backchannel-logout"


def test_portal_and_keycloak_share_the_client_secrets() -> None:
    keycloak, portal = env_of("keycloak"), env_of("portal")
    assert portal["KEYCLOAK_CLIENT_SECRET"] == keycloak["DASH_CLIENT_SECRET"]
    assert portal["KEYCLOAK_ADMIN_CLIENT_SECRET"] == keycloak["DASH_ADMIN_CLIENT_SECRET"]


def test_ports_match_local_mode() -> None:
    assert published("keycloak") == {8080: ("127.0.0.1", 8080), 9000: ("127.0.0.1", 9000)}
    assert published("portal") == {8050: ("127.0.0.1", 8050)}
    assert published("postgres") == {}


@pytest.mark.parametrize("service", ["keycloak", "postgres", "portal"])
def test_every_service_has_a_healthcheck(service: str) -> None:
    assert healthcheck_text(service).split()[0] in ("CMD", "CMD-SHELL")


def test_keycloak_healthcheck_needs_no_curl() -> None:
    text = healthcheck_text("keycloak")
    assert "/dev/tcp/127.0.0.1/9000" in text
    assert "/health/ready" in text
    assert "curl" not in text and "wget" not in text
    # A literal $ must be doubled in compose files, or compose interpolates it.
    assert not re.search(r"(?<!\$)\$[a-z]", text)


def test_start_order_waits_for_health() -> None:
    assert SERVICES["keycloak"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert SERVICES["portal"]["depends_on"] == {"keycloak": {"condition": "service_healthy"}}


def test_portal_service() -> None:
    portal = SERVICES["portal"]
    assert portal["build"] in (".", {"context": "."})
    command = portal["command"]
    command = " ".join(command) if isinstance(command, list) else command
    assert command.startswith("gunicorn")
    assert "0.0.0.0:8050" in command and "portal.wsgi:app" in command
    assert re.search(r"--workers[ =]2\b", command)
    assert env_of("portal")["PORTAL_DATA_DIR"] == "/data"
    assert any(str(v).endswith(":/data") for v in portal["volumes"])
    assert "/healthz" in healthcheck_text("portal")


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile() -> None:
    assert re.search(r"^FROM python:3\.11-slim\b", DOCKERFILE, re.MULTILINE)
    install = DOCKERFILE.index("pip install -r requirements.txt")
    assert install < DOCKERFILE.index("pip install --no-deps -e .")
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^EXPOSE 8050\b", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", DOCKERFILE, re.MULTILINE)


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
