"""Run Keycloak locally without Docker: fetch the distribution, start, wait, stop.

`make up` uses this as a CLI and the test suite imports it as a module, so both run Keycloak
the same way. The distribution is fetched once with Maven (the only registry reachable from
many build machines) and unpacked into a cache outside the work tree. Each instance gets its
own small "home": symlinks to the cached, read-only parts of the distribution plus private
copies of what Keycloak writes (``lib/quarkus``, rewritten by the build step of dev mode, and
``data/``, which holds the H2 database and the realm to import). That way a test instance and
the `make up` instance run side by side from one cached distribution.

Stdlib only, Python 3.11+.

CLI::

    python keycloak/kcctl.py fetch
    python keycloak/kcctl.py up [--http-port 8080] [--management-port 9000] [--instance-dir DIR]
                                [--timeout 300]
    python keycloak/kcctl.py down [--instance-dir DIR]
    python keycloak/kcctl.py status [--instance-dir DIR]
    python keycloak/kcctl.py logs [--instance-dir DIR] [--lines 80]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "BOOTSTRAP_ADMIN",
    "DEFAULT_INSTANCE_DIR",
    "REALM_FILE",
    "REPO",
    "ConfigError",
    "DistributionError",
    "Instance",
    "JavaMissingError",
    "KeycloakError",
    "Launch",
    "MavenMissingError",
    "PortInUseError",
    "ReadyTimeoutError",
    "StartError",
    "cache_root",
    "distribution_dir",
    "ensure_distribution",
    "find_java",
    "is_ready",
    "is_running",
    "load_realm",
    "log_tail",
    "patch_realm",
    "preflight",
    "prepare",
    "read_version",
    "remember",
    "rss_bytes",
    "start",
    "stop",
    "up_command",
    "wait_ready",
]

REPO = Path(__file__).resolve().parent.parent
ENV_FILE = REPO / ".env"
REALM_FILE = REPO / "realm-export.json"
DEFAULT_INSTANCE_DIR = REPO / "var" / "keycloak"
BOOTSTRAP_ADMIN = ("admin", "admin")  # dev only, master realm
MIN_JAVA = 17
#: Keycloak's option that lets one user sign in from several tabs at once.
CONCURRENT_SIGN_INS = (
    "spi-brute-force-protector--default-brute-force-detector--allow-concurrent-requests"
)
ARTIFACT = "org.keycloak:keycloak-quarkus-dist:{version}:tar.gz"

PID_FILE = "keycloak.pid"
STATE_FILE = "instance.json"
LOG_FILE = "keycloak.log"

# Lines that mean the server will never become ready; checked while waiting.
_FATAL_LOG = re.compile(
    r"Failed to start server|Failed to import realm|Error while importing realm|"
    r"Script upload is disabled|Address already in use|ERROR: .*import",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- errors


class KeycloakError(Exception):
    """Anything that stops Keycloak from running; the message is meant for a human."""


class ConfigError(KeycloakError):
    """The repository's configuration (.env, realm file) is missing or unreadable."""


class JavaMissingError(KeycloakError):
    """No Java, or a Java older than Keycloak needs."""


class MavenMissingError(KeycloakError):
    """Maven is needed to fetch the distribution and is not installed."""


class PortInUseError(KeycloakError):
    """A port Keycloak needs is taken by another process."""

    def __init__(self, port: int, what: str) -> None:
        self.port = port
        super().__init__(
            f"port {port} ({what}) is already in use on 127.0.0.1; stop whatever listens "
            f"there (e.g. `ss -ltnp 'sport = :{port}'`) or choose another port"
        )


class DistributionError(KeycloakError):
    """Fetching or unpacking the Keycloak distribution failed."""


class StartError(KeycloakError):
    """Keycloak could not be started, died while starting or failed to import the realm."""


class ReadyTimeoutError(KeycloakError):
    """Keycloak is still running but did not become ready in time."""


# --------------------------------------------------------------------------- config


def read_version(env_file: Path = ENV_FILE) -> str:
    """The Keycloak version pinned as KEYCLOAK_VERSION in the repository's .env."""
    try:
        text = Path(env_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {env_file}: {exc.strerror}") from exc
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip().removeprefix("export ").strip() == "KEYCLOAK_VERSION":
            version = value.split("#", 1)[0].strip().strip("'\"")
            if re.fullmatch(r"\d+\.\d+\.\d+(?:[.-][\w.]+)?", version):
                return version
            raise ConfigError(f"KEYCLOAK_VERSION in {env_file} is not a version: {version!r}")
    raise ConfigError(f"{env_file} does not set KEYCLOAK_VERSION")


def cache_root() -> Path:
    """Where unpacked distributions live (KEYCLOAK_CACHE_DIR, else ~/.cache/...)."""
    override = os.environ.get("KEYCLOAK_CACHE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dash-platform" / "keycloak"


def load_realm(path: Path = REALM_FILE) -> dict[str, Any]:
    """The realm export as a dict (tests patch it, then pass it to start())."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load realm file {path}: {exc}") from exc


def _spellings(url: str) -> list[str]:
    """The URL plus its localhost/127.0.0.1 twin: people type either."""
    url = url.rstrip("/")
    for a, b in (("//127.0.0.1", "//localhost"), ("//localhost", "//127.0.0.1")):
        if a in url:
            return [url, url.replace(a, b, 1)]
    return [url]


def patch_realm(
    realm: Mapping[str, Any] | Path | None = None,
    *,
    portal_url: str | None = None,
    backchannel_logout_url: str | None = None,
    access_token_lifespan: int | None = None,
) -> dict[str, Any]:
    """A copy of the realm with the `dash` client pointed at another portal.

    ``portal_url`` (e.g. ``http://127.0.0.1:18050``) replaces the redirect URIs, web origins,
    post-logout redirect URIs and back-channel logout URL of client ``dash``;
    ``backchannel_logout_url`` overrides the latter alone.
    """
    if realm is None or isinstance(realm, Path):
        data = load_realm(realm or REALM_FILE)
    else:
        data = copy.deepcopy(dict(realm))
    if access_token_lifespan is not None:
        data["accessTokenLifespan"] = int(access_token_lifespan)
    if portal_url is None and backchannel_logout_url is None:
        return data
    client = next((c for c in data.get("clients", []) if c.get("clientId") == "dash"), None)
    if client is None:
        raise ConfigError("the realm has no client 'dash' to patch")
    attributes = client.setdefault("attributes", {})
    if portal_url is not None:
        urls = _spellings(portal_url)
        client["rootUrl"] = urls[0]
        client["redirectUris"] = [f"{u}/auth/callback" for u in urls]
        client["webOrigins"] = urls
        attributes["post.logout.redirect.uris"] = "##".join(f"{u}/*" for u in urls)
        attributes["backchannel.logout.url"] = f"{urls[0]}/auth/backchannel-logout"
    if backchannel_logout_url is not None:
        attributes["backchannel.logout.url"] = backchannel_logout_url
    return data


# --------------------------------------------------------------------------- preflight


def find_java() -> tuple[Path, int]:
    """The java Keycloak will run on ($JAVA_HOME first, then PATH) and its major version."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is None or not candidate.exists():
        found = shutil.which("java")
        if found is None:
            where = f" (JAVA_HOME={java_home} has no bin/java)" if java_home else ""
            raise JavaMissingError(
                f"no Java found{where}; Keycloak needs Java {MIN_JAVA}+ "
                "(e.g. `apt-get install openjdk-17-jre-headless`)"
            )
        candidate = Path(found)
    try:
        out = subprocess.run(
            [str(candidate), "-version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaMissingError(f"cannot run {candidate} -version: {exc}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise JavaMissingError(f"cannot tell the version of {candidate}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" means Java 8
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise JavaMissingError(
            f"Keycloak needs Java {MIN_JAVA}+, but {candidate} is Java {major}; "
            f"install a JDK {MIN_JAVA}+ and set JAVA_HOME to it"
        )
    return candidate, major


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: a socket lingering in TIME_WAIT is no obstacle, a listener is.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def preflight(
    http_port: int = 8080, management_port: int = 9000, *, need_maven: bool | None = None
) -> Path:
    """Check Java, Maven (only if the distribution is not cached yet) and the two ports.

    Returns the java to use; raises a KeycloakError subclass naming what is missing.
    """
    if http_port == management_port:
        raise ConfigError(f"HTTP and management port must differ (both {http_port})")
    java, _major = find_java()
    if need_maven is None:
        need_maven = not distribution_dir().exists()
    if need_maven and shutil.which("mvn") is None:
        raise MavenMissingError(
            "Maven (mvn) is not on PATH; it is needed once to fetch "
            f"{ARTIFACT.format(version=read_version())} from Maven Central "
            "(e.g. `apt-get install maven`)"
        )
    for port, what in ((http_port, "Keycloak HTTP"), (management_port, "Keycloak management")):
        if not _port_free(port):
            raise PortInUseError(port, what)
    return java


# --------------------------------------------------------------------------- distribution


def distribution_dir(version: str | None = None) -> Path:
    """Where the unpacked distribution of ``version`` lives (whether or not it exists yet)."""
    return cache_root() / (version or read_version())


def ensure_distribution(version: str | None = None, *, out: TextIO = sys.stderr) -> Path:
    """The unpacked distribution, fetched with Maven and unpacked on first use."""
    version = version or read_version()
    target = distribution_dir(version)
    # The directory only ever appears by an atomic rename of a complete unpack.
    if (target / "bin" / "kc.sh").exists():
        return target
    if shutil.which("mvn") is None:
        raise MavenMissingError(
            f"Maven (mvn) is not on PATH; it is needed once to fetch Keycloak {version}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"Fetching Keycloak {version} with Maven (first run only)...", file=out, flush=True)
    with tempfile.TemporaryDirectory(prefix=f".{version}-", dir=target.parent) as tmp:
        tmpdir = Path(tmp)
        cmd = [
            "mvn",
            "-q",
            "-B",
            "dependency:copy",
            f"-Dartifact={ARTIFACT.format(version=version)}",
            f"-DoutputDirectory={tmpdir}",
        ]
        try:
            res = subprocess.run(cmd, cwd=tmpdir, capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired as exc:
            raise DistributionError("Maven did not finish fetching Keycloak in 30 min") from exc
        tarballs = list(tmpdir.glob("keycloak-quarkus-dist-*.tar.gz"))
        if res.returncode != 0 or not tarballs:
            tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
            raise DistributionError(f"Maven could not fetch Keycloak {version}:\n{tail}")
        print(f"Unpacking into {target} ...", file=out, flush=True)
        unpack = tmpdir / "unpack"
        try:
            with tarfile.open(tarballs[0]) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(unpack, filter="data")
                else:  # pragma: no cover - Python < 3.11.4
                    tar.extractall(unpack)  # noqa: S202 - archive from Maven Central
        except (OSError, tarfile.TarError) as exc:
            raise DistributionError(f"cannot unpack {tarballs[0].name}: {exc}") from exc
        roots = [p for p in unpack.iterdir() if (p / "bin" / "kc.sh").exists()]
        if len(roots) != 1:
            raise DistributionError(f"{tarballs[0].name} does not look like Keycloak")
        try:
            roots[0].rename(target)
        except OSError:
            # Another process won the race; its copy is complete by construction.
            if not (target / "bin" / "kc.sh").exists():
                raise
    return target


# --------------------------------------------------------------------------- instances


@dataclass
class Instance:
    """One Keycloak process with its own home and data under ``instance_dir``."""

    instance_dir: Path
    http_port: int
    management_port: int
    pid: int
    log_file: Path
    realm: str = "dash"
    started_at: float = 0.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    #: Where this run's lines start in ``log_file`` (a supervised log is appended to).
    log_offset: int = 0

    @property
    def home(self) -> Path:
        return self.instance_dir / "home"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{self.realm}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}/health/ready"

    @classmethod
    def load(cls, instance_dir: Path) -> Instance:
        """The instance last started in ``instance_dir`` (from its state file)."""
        instance_dir = Path(instance_dir).resolve()
        try:
            state = json.loads((instance_dir / STATE_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise StartError(f"no Keycloak instance recorded in {instance_dir}") from exc
        return cls(
            instance_dir=instance_dir,
            http_port=int(state["http_port"]),
            management_port=int(state["management_port"]),
            pid=int(state["pid"]),
            log_file=Path(state["log_file"]),
            realm=state.get("realm", "dash"),
            started_at=float(state.get("started_at", 0.0)),
        )


def _read_pid(instance_dir: Path) -> int | None:
    try:
        return int((instance_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _is_ours(pid: int, home: Path) -> bool:
    """True if ``pid`` is alive and is a Keycloak started from ``home`` (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        if sys.platform.startswith("linux"):
            return False
        try:  # no /proc: trust the pid file
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return state != "Z" and str(home) in cmdline


def is_running(instance_dir: Path) -> int | None:
    """The pid of the Keycloak running in ``instance_dir``, or None."""
    instance_dir = Path(instance_dir).resolve()
    pid = _read_pid(instance_dir)
    if pid is not None and _is_ours(pid, instance_dir / "home"):
        return pid
    return None


def _prepare_home(instance_dir: Path, dist: Path) -> Path:
    """Build the instance home: symlinks to the shared distribution, private writable parts."""
    home = instance_dir / "home"
    marker = home / ".distribution"
    if marker.exists() and marker.read_text() == str(dist):
        return home
    # New instance or another version: rebuild everything but data/ (Keycloak migrates it).
    for name in ("bin", "lib", "conf", "themes", "providers", "version.txt"):
        path = home / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    (home / "bin").mkdir(parents=True)
    # kc.sh finds its home with `readlink -f $0`: a copy (not a symlink) makes that this home.
    shutil.copy2(dist / "bin" / "kc.sh", home / "bin" / "kc.sh")
    for name in ("conf", "themes", "providers", "version.txt"):
        if (dist / name).exists():
            (home / name).symlink_to(dist / name)
    lib = home / "lib"
    lib.mkdir()
    for name in ("lib", "app"):
        (lib / name).symlink_to(dist / "lib" / name)
    # Quarkus resolves lib/quarkus next to the jar it runs from, and start-dev's build step
    # rewrites lib/quarkus: both are private so instances never write to the shared copy.
    # Starting from a saved dev-mode build skips that build step (~15 s) on fresh instances.
    shutil.copy2(dist / "lib" / "quarkus-run.jar", lib / "quarkus-run.jar")
    template = _dev_build_dir(dist)
    source = dist / "lib" / "quarkus"
    if (template / "quarkus-application.dat").exists():
        source = template
    shutil.copytree(source, lib / "quarkus")
    (home / "data").mkdir(exist_ok=True)
    marker.write_text(str(dist))
    return home


def _dev_build_dir(dist: Path) -> Path:
    return dist.parent / f"{dist.name}.dev-build"


def _remember_dev_build(instance: Instance) -> None:
    """Save a ready instance's dev-mode build next to the distribution, once."""
    try:
        dist = Path((instance.home / ".distribution").read_text())
        template = _dev_build_dir(dist)
        if template.exists():
            return
        with tempfile.TemporaryDirectory(prefix=".dev-build-", dir=dist.parent) as tmp:
            shutil.copytree(instance.home / "lib" / "quarkus", Path(tmp) / "quarkus")
            (Path(tmp) / "quarkus").rename(template)
    except OSError:
        pass  # only an optimisation; another instance may have won the race


def _write_realm(home: Path, realm: Mapping[str, Any] | Path) -> str:
    """Put the realm into data/import (alone: Keycloak imports every file there)."""
    import_dir = home / "data" / "import"
    if import_dir.exists():
        shutil.rmtree(import_dir)
    import_dir.mkdir(parents=True)
    data = load_realm(realm) if isinstance(realm, Path) else dict(realm)
    (import_dir / "realm-export.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return str(data.get("realm", "dash"))


@dataclass(frozen=True)
class Launch:
    """How to run one Keycloak: its command, environment and home, and where it listens.

    :func:`start` runs it as a child of this process; `make up` hands it to the
    platform's supervisord instead (scripts/stack.py), which restarts it when it exits.
    """

    command: list[str]
    env: dict[str, str]
    instance_dir: Path
    http_port: int
    management_port: int
    realm: str
    log_file: Path

    @property
    def home(self) -> Path:
        return self.instance_dir / "home"

    def instance(self, pid: int, process: subprocess.Popen[bytes] | None = None) -> Instance:
        """The instance this launch runs as process ``pid``; its log is read from now on."""
        try:
            log_offset = self.log_file.stat().st_size
        except OSError:
            log_offset = 0
        return Instance(
            instance_dir=self.instance_dir,
            http_port=self.http_port,
            management_port=self.management_port,
            pid=pid,
            log_file=self.log_file,
            realm=self.realm,
            started_at=time.time(),
            process=process,
            log_offset=log_offset,
        )


def prepare(
    *,
    http_port: int = 8080,
    management_port: int = 9000,
    instance_dir: Path,
    realm: Mapping[str, Any] | Path = REALM_FILE,
    env: Mapping[str, str] | None = None,
    log_file: Path | None = None,
) -> Launch:
    """Check Java and the ports, build the instance's home, put the realm to import.

    The realm is imported on the first start of a fresh ``instance_dir`` and kept (in the
    instance's H2 database) on later starts. ``env`` adds variables for Keycloak, e.g. the
    ``DASH_CLIENT_SECRET`` that the realm file's placeholders read.
    """
    instance_dir = Path(instance_dir).resolve()
    running = is_running(instance_dir)
    if running is not None:
        raise StartError(f"Keycloak is already running from {instance_dir} (pid {running})")
    java = preflight(http_port, management_port)
    dist = ensure_distribution()
    instance_dir.mkdir(parents=True, exist_ok=True)
    home = _prepare_home(instance_dir, dist)
    realm_name = _write_realm(home, realm)
    log_path = Path(log_file).resolve() if log_file else instance_dir / LOG_FILE
    log_path.parent.mkdir(parents=True, exist_ok=True)

    # Inherited KC_* variables (a stray KC_DB or KC_HOSTNAME) would silently change the
    # server; every setting comes from the command line below instead.
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("KC_")}
    child_env.update(
        JAVA=str(java),
        KC_BOOTSTRAP_ADMIN_USERNAME=BOOTSTRAP_ADMIN[0],
        KC_BOOTSTRAP_ADMIN_PASSWORD=BOOTSTRAP_ADMIN[1],
    )
    # The C1 compiler alone starts Keycloak ~40% faster on a busy 2-core machine (measured
    # 12-19 s instead of 20-33 s) and uses less memory; a dev server needs no peak speed.
    child_env.setdefault("JAVA_OPTS_APPEND", "-XX:TieredStopAtLevel=1")
    child_env.update(env or {})
    command = [
        str(home / "bin" / "kc.sh"),
        "start-dev",
        "--import-realm",
        "--http-host=127.0.0.1",
        f"--http-port={http_port}",
        f"--http-management-port={management_port}",
        f"--hostname=http://127.0.0.1:{http_port}",
        "--health-enabled=true",
        # Brute-force protection refuses a sign-in while another one of the same user is
        # under way (user_temporarily_disabled), so two tabs or a double submit fail.
        # Failures are still counted and still lock the account out.
        f"--{CONCURRENT_SIGN_INS}=true",
    ]
    return Launch(
        command=command,
        env=child_env,
        instance_dir=instance_dir,
        http_port=http_port,
        management_port=management_port,
        realm=realm_name,
        log_file=log_path,
    )


def start(**settings: Any) -> Instance:
    """Start Keycloak in dev mode in the background; returns at once (see wait_ready).

    ``settings`` are :func:`prepare`'s. The previous start's log is kept as ``<log>.1``,
    so a restart never loses why the last run ended.
    """
    launch = prepare(**settings)
    if launch.log_file.exists():
        launch.log_file.replace(launch.log_file.with_name(launch.log_file.name + ".1"))
    with open(launch.log_file, "ab") as log:
        # A session of its own: the server outlives `make up` and stop() signals the group.
        process = subprocess.Popen(
            launch.command,
            cwd=launch.home,
            env=launch.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    instance = launch.instance(process.pid, process)
    (launch.instance_dir / PID_FILE).write_text(f"{process.pid}\n")
    remember(instance)
    return instance


def remember(instance: Instance) -> None:
    """Record the instance in its folder, for :meth:`Instance.load` (status, logs)."""
    state = {
        "pid": instance.pid,
        "http_port": instance.http_port,
        "management_port": instance.management_port,
        "log_file": str(instance.log_file),
        "realm": instance.realm,
        "started_at": instance.started_at,
        "distribution": (instance.home / ".distribution").read_text(),
    }
    (instance.instance_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")


def _alive(instance: Instance) -> bool:
    if instance.process is not None:
        return instance.process.poll() is None
    return _is_ours(instance.pid, instance.home)


def _get_json(url: str, timeout: float = 3.0) -> dict[str, Any] | None:
    try:
        # Only ever http://127.0.0.1 URLs built by this module.
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            return json.loads(resp.read().decode("utf-8")) if resp.status == 200 else None
    except (OSError, ValueError, urllib.error.URLError):
        return None


def log_tail(instance: Instance | Path, lines: int = 30) -> str:
    """The last lines of the instance's log."""
    path = instance.log_file if isinstance(instance, Instance) else Path(instance)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _failure_reason(instance: Instance) -> str | None:
    """Why the start failed, from this run's log lines (None while nothing fatal is logged)."""
    try:
        with open(instance.log_file, "rb") as log:
            if os.fstat(log.fileno()).st_size >= instance.log_offset:  # else: rotated since
                log.seek(instance.log_offset)
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    match = _FATAL_LOG.search(text)
    if not match:
        return None
    # Keycloak prints its reasons as "ERROR: <message>" lines after the fatal one.
    start = text.rfind("\n", 0, match.start()) + 1
    reasons: list[str] = []
    for line in text[start:].splitlines():
        _, sep, message = line.partition("ERROR: ")
        message = message.strip()
        wanted = sep and message and not message.startswith("For more details")
        if wanted and message not in reasons:
            reasons.append(message)
    if reasons:
        return "; ".join(reasons)
    end = text.find("\n", match.end())
    return text[start : end if end != -1 else None].strip()


def is_ready(instance: Instance) -> bool:
    """Health says UP and the realm's discovery document names the expected issuer."""
    health = _get_json(instance.health_url)
    if not health or health.get("status") != "UP":
        return False
    discovery = _get_json(instance.discovery_url)
    return bool(discovery) and discovery.get("issuer") == instance.issuer


def wait_ready(
    instance: Instance, timeout: float = 180, *, out: TextIO | None = sys.stderr
) -> float:
    """Block until ``instance`` is ready; returns the seconds waited.

    Prints a line every few seconds so a slow first start is visibly alive. Raises StartError
    (with the last log lines) if the process dies or the realm import fails, and
    ReadyTimeoutError after ``timeout`` seconds.
    """
    began = time.monotonic()
    next_report = 5.0
    while True:
        elapsed = time.monotonic() - began
        fatal = _failure_reason(instance)
        if fatal or not _alive(instance):
            reason = fatal or "the Keycloak process exited"
            raise StartError(
                f"Keycloak failed to start: {reason}\n--- last lines of {instance.log_file}:\n"
                f"{log_tail(instance)}"
            )
        if is_ready(instance):
            _remember_dev_build(instance)
            if out is not None:
                print(f"Keycloak ready after {elapsed:.0f} s: {instance.issuer}", file=out)
            return elapsed
        if elapsed > timeout:
            raise ReadyTimeoutError(
                f"Keycloak not ready after {timeout:.0f} s (still running, pid {instance.pid})"
                f"\n--- last lines of {instance.log_file}:\n{log_tail(instance)}"
            )
        if out is not None and elapsed >= next_report:
            print(f"  waiting for Keycloak on {instance.base_url} ... {elapsed:.0f} s", file=out)
            out.flush()
            next_report += 5.0
        time.sleep(1.0)


def _group_pids(pgid: int) -> list[int]:
    """Pids in process group ``pgid`` (kc.sh and its java), from /proc."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def rss_bytes(instance: Instance) -> int | None:
    """Resident memory of the instance's processes (Linux only; None elsewhere)."""
    total = 0
    for pid in _group_pids(instance.pid) if Path("/proc").exists() else []:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            total += int(match.group(1)) * 1024
    return total or None


def _signal_group(pid: int, sig: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _gone(pid: int, home: Path) -> bool:
    # Reap it if it is our child, so it does not linger as a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return not _is_ours(pid, home)


def stop(instance_dir: Path, timeout: float = 30) -> bool:
    """Stop the instance (SIGTERM, then SIGKILL after ``timeout``); True if one was running.

    Idempotent: a missing or stale pid file is cleaned up and reported as not running.
    """
    instance_dir = Path(instance_dir).resolve()
    home = instance_dir / "home"
    pid = is_running(instance_dir)
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _gone(pid, home) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _gone(pid, home):
            _signal_group(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while not _gone(pid, home) and time.monotonic() < deadline:
                time.sleep(0.2)
    (instance_dir / PID_FILE).unlink(missing_ok=True)
    return pid is not None


# --------------------------------------------------------------------------- CLI


def _cmd_fetch(args: argparse.Namespace) -> int:
    began = time.monotonic()
    path = ensure_distribution()
    print(f"Keycloak {read_version()} at {path} ({time.monotonic() - began:.1f} s)")
    return 0


def up_command(
    *,
    http_port: int = 8080,
    management_port: int = 9000,
    instance_dir: Path = DEFAULT_INSTANCE_DIR,
    timeout: float = 300,
    out: TextIO = sys.stdout,
) -> Instance:
    """What `kcctl up` does: start (unless already running) and wait until ready.

    Prints what it did, with the start time and resident memory; on failure stops the
    half-started server and raises a KeycloakError.
    """
    instance_dir = Path(instance_dir).resolve()
    if is_running(instance_dir) is not None:
        instance = Instance.load(instance_dir)
        if not is_ready(instance):
            wait_ready(instance, timeout)
        print(f"Keycloak already running (pid {instance.pid}): {instance.issuer}", file=out)
        return instance
    began = time.monotonic()
    instance = start(
        http_port=http_port, management_port=management_port, instance_dir=instance_dir
    )
    print(f"Keycloak starting (pid {instance.pid}), log: {instance.log_file}", file=out)
    out.flush()
    try:
        wait_ready(instance, timeout, out=out)
    except (KeycloakError, KeyboardInterrupt):
        stop(instance_dir)
        raise
    rss = rss_bytes(instance)
    memory = f", RSS {rss / 2**20:.0f} MB" if rss else ""
    print(
        f"Keycloak up in {time.monotonic() - began:.1f} s{memory}: {instance.issuer} "
        f"(admin console {instance.base_url}/admin, {'/'.join(BOOTSTRAP_ADMIN)}, dev only)",
        file=out,
    )
    return instance


def _cmd_up(args: argparse.Namespace) -> int:
    up_command(
        http_port=args.http_port,
        management_port=args.management_port,
        instance_dir=Path(args.instance_dir),
        timeout=args.timeout,
    )
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    stopped = stop(Path(args.instance_dir))
    print("Keycloak stopped" if stopped else "Keycloak was not running")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    instance_dir = Path(args.instance_dir).resolve()
    if is_running(instance_dir) is None:
        print("Keycloak is not running")
        return 3
    instance = Instance.load(instance_dir)
    ready = is_ready(instance)
    rss = rss_bytes(instance)
    memory = f", RSS {rss / 2**20:.0f} MB" if rss else ""
    state = "ready" if ready else "starting (not ready yet)"
    print(f"Keycloak running (pid {instance.pid}), {state}: {instance.issuer}{memory}")
    return 0 if ready else 1


def _cmd_logs(args: argparse.Namespace) -> int:
    instance_dir = Path(args.instance_dir).resolve()
    log = instance_dir / LOG_FILE
    if (instance_dir / STATE_FILE).exists():
        log = Instance.load(instance_dir).log_file
    if not log.exists():
        print(f"no log at {log}", file=sys.stderr)
        return 1
    print(log_tail(log, args.lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kcctl", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="fetch and unpack the pinned Keycloak distribution")

    def with_dir(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--instance-dir", default=str(DEFAULT_INSTANCE_DIR))
        return p

    up = with_dir(sub.add_parser("up", help="start Keycloak and wait until it is ready"))
    up.add_argument("--http-port", type=int, default=8080)
    up.add_argument("--management-port", type=int, default=9000)
    # A cold start on a busy 2-core machine has taken 160 s; leave room.
    up.add_argument("--timeout", type=float, default=300)
    with_dir(sub.add_parser("down", help="stop Keycloak"))
    with_dir(sub.add_parser("status", help="exit 0 if ready, 1 if starting, 3 if stopped"))
    logs = with_dir(sub.add_parser("logs", help="print the end of Keycloak's log"))
    logs.add_argument("--lines", type=int, default=80)
    args = parser.parse_args(argv)
    handler = {
        "fetch": _cmd_fetch,
        "up": _cmd_up,
        "down": _cmd_down,
        "status": _cmd_status,
        "logs": _cmd_logs,
    }[args.command]
    try:
        return handler(args)
    except KeycloakError as exc:
        message = str(exc)
        first, _, rest = message.partition("\n")
        if rest:
            print(rest, file=sys.stderr)
        print(f"kcctl {args.command}: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
