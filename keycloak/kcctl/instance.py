"""One Keycloak instance: how to launch it (command, environment, home) and start it.

:func:`prepare` checks Java and the ports, builds the instance's home and puts the realm
to import; :func:`start` runs it as a child in its own session. The state file in the
instance folder lets `kcctl status` and `kcctl logs` find it again.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kcctl.checks import preflight
from kcctl.distribution import REPO, ensure_distribution
from kcctl.errors import StartError
from kcctl.home import prepare_home
from kcctl.process import PID_FILE, is_running
from kcctl.realm import REALM_FILE, write_realm

__all__ = [
    "BOOTSTRAP_ADMIN",
    "CONCURRENT_SIGN_INS",
    "DEFAULT_INSTANCE_DIR",
    "LOG_FILE",
    "STATE_FILE",
    "Instance",
    "Launch",
    "prepare",
    "remember",
    "start",
]

DEFAULT_INSTANCE_DIR = REPO / "var" / "keycloak"
BOOTSTRAP_ADMIN = ("admin", "admin")  # dev only, master realm
#: Keycloak's option that lets one user sign in from several tabs at once.
CONCURRENT_SIGN_INS = (
    "spi-brute-force-protector--default-brute-force-detector--allow-concurrent-requests"
)
STATE_FILE = "instance.json"
LOG_FILE = "keycloak.log"


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
    #: The URL people and tokens use (a balancer in front of a cluster); "": its own.
    public_url: str = ""
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
        return f"{self.public_url or self.base_url}/realms/{self.realm}"

    @property
    def discovery_url(self) -> str:
        """This instance's own discovery document (which names the public issuer)."""
        return f"{self.base_url}/realms/{self.realm}/.well-known/openid-configuration"

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
            public_url=state.get("public_url", ""),
        )


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
    public_url: str = ""

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
            public_url=self.public_url,
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
    public_url: str | None = None,
    import_realm: bool = True,
    options: Sequence[str] = (),
    build: str = "",
) -> Launch:
    """Check Java and the ports, build the instance's home, put the realm to import.

    The realm is imported on the first start of a fresh ``instance_dir`` and kept (in the
    instance's H2 database) on later starts. ``env`` adds variables for Keycloak, e.g. the
    ``DASH_CLIENT_SECRET`` that the realm file's placeholders read, or a database's
    ``KC_DB_*`` (secrets go there, never on the command line, which ``ps`` shows).

    A cluster node (kcctl.cluster) passes the cluster's ``public_url`` (its issuer and
    links), extra command-line ``options``, the name of their ``build`` options, and
    ``import_realm=False`` when another node imports the realm.
    """
    instance_dir = Path(instance_dir).resolve()
    running = is_running(instance_dir)
    if running is not None:
        raise StartError(f"Keycloak is already running from {instance_dir} (pid {running})")
    java = preflight(http_port, management_port)
    dist = ensure_distribution()
    instance_dir.mkdir(parents=True, exist_ok=True)
    home = prepare_home(instance_dir, dist, build)
    realm_name = write_realm(home, realm)
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
    public_url = (public_url or f"http://127.0.0.1:{http_port}").rstrip("/")
    command = [
        str(home / "bin" / "kc.sh"),
        "start-dev",
        *(["--import-realm"] if import_realm else []),
        "--http-host=127.0.0.1",
        f"--http-port={http_port}",
        f"--http-management-port={management_port}",
        f"--hostname={public_url}",
        "--health-enabled=true",
        # Brute-force protection refuses a sign-in while another one of the same user is
        # under way (user_temporarily_disabled), so two tabs or a double submit fail.
        # Failures are still counted and still lock the account out.
        f"--{CONCURRENT_SIGN_INS}=true",
        *options,
    ]
    return Launch(
        command=command,
        env=child_env,
        instance_dir=instance_dir,
        http_port=http_port,
        management_port=management_port,
        realm=realm_name,
        log_file=log_path,
        public_url=public_url,
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
        "public_url": instance.public_url,
        "distribution": (instance.home / ".distribution").read_text(),
    }
    (instance.instance_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
