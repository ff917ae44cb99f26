"""Unit tests of kcctl (keycloak/kcctl/) that need no Keycloak: version, preflight, realm patching.

The real start/stop of Keycloak is exercised once per session by tests/conftest.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import kcctl
import kcctl.checks
import kcctl.home
import kcctl.instance
import kcctl.readiness
import kcctl.realm

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def listening() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def java_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend a suitable Java exists, so preflight gets to the ports."""
    monkeypatch.setattr(kcctl.checks, "find_java", lambda: (Path("/usr/bin/java"), 17))


def fake_java(tmp_path: Path, version_line: str) -> Path:
    """A JAVA_HOME whose bin/java prints ``version_line`` like `java -version` does."""
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return java.parent.parent


# --------------------------------------------------------------------------- version


def test_reads_the_repository_version() -> None:
    assert kcctl.read_version() == kcctl.read_version(ROOT / ".env")
    assert kcctl.read_version().count(".") == 2


@pytest.mark.parametrize(
    "text",
    [
        "KEYCLOAK_VERSION=1.2.3\n",
        "# pinned\nOTHER=x\nKEYCLOAK_VERSION = 1.2.3  # comment\n",
        'export KEYCLOAK_VERSION="1.2.3"\n',
    ],
)
def test_read_version_formats(tmp_path: Path, text: str) -> None:
    env = tmp_path / ".env"
    env.write_text(text)
    assert kcctl.read_version(env) == "1.2.3"


@pytest.mark.parametrize("text", ["OTHER=1\n", "KEYCLOAK_VERSION=latest\n", ""])
def test_read_version_refuses_missing_or_bad(tmp_path: Path, text: str) -> None:
    env = tmp_path / ".env"
    env.write_text(text)
    with pytest.raises(kcctl.ConfigError, match="KEYCLOAK_VERSION"):
        kcctl.read_version(env)


def test_read_version_without_file(tmp_path: Path) -> None:
    with pytest.raises(kcctl.ConfigError, match="cannot read"):
        kcctl.read_version(tmp_path / "missing.env")


# --------------------------------------------------------------------------- preflight


def test_preflight_names_the_busy_http_port(java_ok: None, listening: int, free_port: int) -> None:
    with pytest.raises(kcctl.PortInUseError) as caught:
        kcctl.preflight(listening, free_port, need_maven=False)
    assert caught.value.port == listening
    assert str(listening) in str(caught.value)
    assert "HTTP" in str(caught.value)
    assert isinstance(caught.value, kcctl.KeycloakError)


def test_preflight_names_the_busy_management_port(
    java_ok: None, listening: int, free_port: int
) -> None:
    with pytest.raises(kcctl.PortInUseError, match=rf"port {listening} \(Keycloak management\)"):
        kcctl.preflight(free_port, listening, need_maven=False)


def test_preflight_passes_on_free_ports(java_ok: None, free_port: int) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        second = other.getsockname()[1]
    assert kcctl.preflight(free_port, second, need_maven=False) == Path("/usr/bin/java")


def test_preflight_refuses_one_port_for_both(java_ok: None, free_port: int) -> None:
    with pytest.raises(kcctl.ConfigError, match="differ"):
        kcctl.preflight(free_port, free_port, need_maven=False)


def test_preflight_names_missing_maven(
    java_ok: None, free_port: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn here
    monkeypatch.setenv("KEYCLOAK_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached
    with pytest.raises(kcctl.MavenMissingError, match="Maven"):
        kcctl.preflight(free_port, free_port + 1)


def test_old_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, 'openjdk version "11.0.22" 2024')))
    with pytest.raises(kcctl.JavaMissingError, match=r"is Java 11") as caught:
        kcctl.find_java()
    assert str(tmp_path / "jdk" / "bin" / "java") in str(caught.value)


def test_java_8_version_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, 'java version "1.8.0_392"')))
    with pytest.raises(kcctl.JavaMissingError, match=r"is Java 8"):
        kcctl.find_java()


def test_recent_java_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, 'openjdk version "21.0.3" 2024')))
    java, major = kcctl.find_java()
    assert major == 21
    assert java == tmp_path / "jdk" / "bin" / "java"


def test_no_java_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kcctl.JavaMissingError, match="no Java found"):
        kcctl.find_java()


# --------------------------------------------------------------------------- distribution


def test_cache_dir_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KEYCLOAK_CACHE_DIR", str(tmp_path))
    assert kcctl.cache_root() == tmp_path.resolve()
    assert kcctl.distribution_dir("1.2.3") == tmp_path.resolve() / "1.2.3"


def test_cached_distribution_needs_no_maven(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KEYCLOAK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "1.2.3" / "bin").mkdir(parents=True)
    (tmp_path / "1.2.3" / "bin" / "kc.sh").write_text("#!/bin/sh\n")
    assert kcctl.ensure_distribution("1.2.3") == tmp_path.resolve() / "1.2.3"


def test_fetch_without_maven_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KEYCLOAK_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kcctl.MavenMissingError):
        kcctl.ensure_distribution("1.2.3")


def make_fake_distribution(root: Path) -> Path:
    dist = root / "9.9.9"
    for sub in ("bin", "conf", "themes", "providers", "lib/lib/main", "lib/app", "lib/quarkus"):
        (dist / sub).mkdir(parents=True)
    (dist / "bin" / "kc.sh").write_text("#!/bin/sh\n")
    (dist / "lib" / "quarkus-run.jar").write_bytes(b"jar")
    (dist / "lib" / "quarkus" / "quarkus-application.dat").write_bytes(b"dat")
    (dist / "version.txt").write_text("9.9.9\n")
    return dist


def test_instance_home_shares_only_read_only_parts(tmp_path: Path) -> None:
    dist = make_fake_distribution(tmp_path / "cache")
    home = kcctl.home.prepare_home(tmp_path / "instance", dist)
    # kc.sh locates its home with readlink -f: it must be a real file in this home.
    assert (home / "bin" / "kc.sh").is_file() and not (home / "bin" / "kc.sh").is_symlink()
    for shared in ("conf", "themes", "providers", "lib/lib", "lib/app"):
        assert (home / shared).is_symlink(), shared
    # What the dev-mode build step and the server write stays private to the instance.
    for private in ("lib/quarkus", "data"):
        assert (home / private).is_dir() and not (home / private).is_symlink(), private
    assert not (home / "lib" / "quarkus-run.jar").is_symlink()
    (home / "lib" / "quarkus" / "quarkus-application.dat").write_bytes(b"augmented")
    assert (dist / "lib" / "quarkus" / "quarkus-application.dat").read_bytes() == b"dat"
    # A second start reuses the home as it is.
    assert kcctl.home.prepare_home(tmp_path / "instance", dist) == home
    assert (home / "lib" / "quarkus" / "quarkus-application.dat").read_bytes() == b"augmented"


def test_realm_dict_is_the_only_file_to_import(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "data" / "import").mkdir(parents=True)
    (home / "data" / "import" / "stale.json").write_text("{}")
    realm = kcctl.patch_realm(access_token_lifespan=42)
    assert kcctl.realm.write_realm(home, realm) == "dash"
    files = list((home / "data" / "import").iterdir())
    assert [f.name for f in files] == ["realm-export.json"]
    assert json.loads(files[0].read_text())["accessTokenLifespan"] == 42


# --------------------------------------------------------------------------- realm patching


def dash_client(realm: dict) -> dict:
    return next(c for c in realm["clients"] if c["clientId"] == "dash")


def test_patch_points_dash_at_another_portal() -> None:
    realm = kcctl.patch_realm(portal_url="http://127.0.0.1:18050/", access_token_lifespan=20)
    dash = dash_client(realm)
    assert realm["accessTokenLifespan"] == 20
    assert set(dash["redirectUris"]) == {
        "http://127.0.0.1:18050/auth/callback",
        "http://localhost:18050/auth/callback",
    }
    assert set(dash["webOrigins"]) == {"http://127.0.0.1:18050", "http://localhost:18050"}
    assert dash["attributes"]["backchannel.logout.url"] == (
        "http://127.0.0.1:18050/auth/backchannel-logout"
    )
    post_logout = dash["attributes"]["post.logout.redirect.uris"].split("##")
    assert all(":18050/" in uri for uri in post_logout)
    assert not any(":8050/" in uri for uri in dash["redirectUris"] + post_logout)


def test_patch_leaves_the_source_alone() -> None:
    original = kcctl.load_realm()
    before = json.dumps(original, sort_keys=True)
    patched = kcctl.patch_realm(original, portal_url="http://localhost:9999")
    assert json.dumps(original, sort_keys=True) == before
    assert json.dumps(kcctl.load_realm(), sort_keys=True) == before
    cli = next(c for c in patched["clients"] if c["clientId"] == "dash-cli")
    assert cli == next(c for c in original["clients"] if c["clientId"] == "dash-cli")
    assert dash_client(patched)["redirectUris"][0] == "http://localhost:9999/auth/callback"


def test_patch_backchannel_only() -> None:
    url = "http://portal:8050/auth/backchannel-logout"
    dash = dash_client(kcctl.patch_realm(backchannel_logout_url=url))
    assert dash["attributes"]["backchannel.logout.url"] == url
    assert "http://127.0.0.1:8050/auth/callback" in dash["redirectUris"]


def test_patch_needs_client_dash() -> None:
    with pytest.raises(kcctl.ConfigError, match="dash"):
        kcctl.patch_realm({"realm": "x", "clients": []}, portal_url="http://127.0.0.1:1")


# --------------------------------------------------------------------------- stop, CLI


def test_stop_is_idempotent_and_spares_other_processes(tmp_path: Path) -> None:
    assert kcctl.stop(tmp_path) is False
    # A stale pid file naming some other live process (here: this test) must not kill it.
    (tmp_path / "keycloak.pid").write_text(f"{os.getpid()}\n")
    assert kcctl.is_running(tmp_path) is None
    assert kcctl.stop(tmp_path) is False
    assert not (tmp_path / "keycloak.pid").exists()


def test_instance_urls(tmp_path: Path) -> None:
    instance = kcctl.Instance(
        instance_dir=tmp_path, http_port=18080, management_port=19000, pid=1, log_file=tmp_path
    )
    assert instance.issuer == "http://127.0.0.1:18080/realms/dash"
    assert instance.health_url == "http://127.0.0.1:19000/health/ready"
    assert instance.discovery_url.endswith("/realms/dash/.well-known/openid-configuration")


def test_cli_status_when_stopped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kcctl.main(["status", "--instance-dir", str(tmp_path)]) == 3
    assert "not running" in capsys.readouterr().out


def test_runs_as_a_module_from_anywhere(tmp_path: Path) -> None:
    """`python -m kcctl` is the installed package: no path to the repository needed."""
    done = subprocess.run(
        [sys.executable, "-m", "kcctl", "status", "--instance-dir", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout.strip()) == (3, "Keycloak is not running")


def test_cli_up_fails_with_one_line_reason(
    java_ok: None,
    listening: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(
        kcctl.instance, "ensure_distribution", lambda *a, **k: pytest.fail("fetched")
    )
    monkeypatch.setenv("KEYCLOAK_CACHE_DIR", str(tmp_path / "cache"))
    args = ["up", "--instance-dir", str(tmp_path / "kc"), "--http-port", str(listening)]
    monkeypatch.setattr(kcctl.checks.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert kcctl.main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("kcctl up: port ") and str(listening) in err[0]


# --------------------------------------------------------------------------- logs


def test_a_start_keeps_the_previous_runs_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log of the run before is kept (as .1), not truncated: it says why that run ended."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".distribution").write_text("/dist")
    log = tmp_path / "keycloak.log"
    log.write_text("first run: ERROR: Failed to start server\n")
    launch = kcctl.Launch(
        command=[sys.executable, "-c", "print('second run')"],
        env=dict(os.environ),
        instance_dir=tmp_path,
        http_port=18080,
        management_port=19000,
        realm="dash",
        log_file=log,
    )
    monkeypatch.setattr(kcctl.instance, "prepare", lambda **kwargs: launch)
    instance = kcctl.start(instance_dir=tmp_path)
    assert instance.process is not None and instance.process.wait(timeout=30) == 0
    assert log.read_text() == "second run\n"
    assert (tmp_path / "keycloak.log.1").read_text().startswith("first run")


def test_an_earlier_runs_failure_in_an_appended_log_is_not_this_runs(tmp_path: Path) -> None:
    """Under supervisord the log is appended to: only this run's lines say if it failed."""
    log = tmp_path / "keycloak.log"
    log.write_text("ERROR: Failed to start server\nERROR: Address already in use\n")
    offset = log.stat().st_size
    with log.open("a") as out:
        out.write("Keycloak 26 on JVM started in 12s\n")
    instance = kcctl.Instance(
        instance_dir=tmp_path, http_port=1, management_port=2, pid=1, log_file=log
    )
    assert kcctl.readiness.failure_reason(instance) is not None  # the whole file: the old failure
    later = dataclasses.replace(instance, log_offset=offset)
    assert kcctl.readiness.failure_reason(later) is None
    with log.open("a") as out:
        out.write("ERROR: Failed to start server\nERROR: Port 8080 is busy\n")
    assert "Port 8080 is busy" in (kcctl.readiness.failure_reason(later) or "")
