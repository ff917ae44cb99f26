"""PostgreSQL from the system's packages as a local process (see the package's docstring)."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .common import ServerError, ServerNotInstalled, log_tail, new_password, wait_port

__all__ = ["PostgresServer", "postgres_bin"]

#: Debian puts each major version's programs here (pg_ctl is not on PATH).
DEBIAN_POSTGRES = Path("/usr/lib/postgresql")
#: The unprivileged user Debian's postgresql package creates; the server runs as it under root.
POSTGRES_USER = "postgres"
#: The superuser our clusters are created with.
SUPERUSER = "platform"
#: The database initdb creates, where databases are created and dropped from.
MAINTENANCE_DATABASE = "postgres"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def postgres_bin() -> Path:
    """The folder of PostgreSQL's server programs: Debian's newest version, else PATH's."""
    versions = sorted(
        (path for path in DEBIAN_POSTGRES.glob("*/bin") if (path / "pg_ctl").is_file()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise ServerNotInstalled("PostgreSQL is not installed: run `make system-packages`")


class PostgresServer:
    """A PostgreSQL cluster in ``data_dir``, served on 127.0.0.1:``port``.

    ``durable=False`` (tests) turns fsync off: a crash of the machine may lose data, a
    crash or restart of the server does not, since commits still wait for the WAL write.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        durable: bool = True,
        max_connections: int = 200,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.durable = durable
        self.max_connections = max_connections
        self.bin = postgres_bin()
        self.cluster = self.data_dir / "cluster"
        self.socket_dir = self.data_dir / "run"
        self.log = self.data_dir / "postgres.log"
        self._password_file = self.data_dir / "password"
        self._owner = _unprivileged_owner()

    # -- lifecycle ------------------------------------------------------------------

    def start(self, timeout: float = 60) -> PostgresServer:
        """Create the cluster on first use, then start it and wait until it answers."""
        if not (self.cluster / "PG_VERSION").exists():
            self._init()
        self._write_settings()
        command = [str(self.bin / "pg_ctl"), "start", "-w", f"--timeout={int(timeout)}"]
        result = self._run([*command, "-D", str(self.cluster), "-l", str(self.log)])
        if result.returncode != 0 or not self.is_ready():
            raise ServerError(
                f"PostgreSQL did not start on port {self.port}: {result.stderr.strip()}\n"
                f"{log_tail(self.log)}\n(log: {self.log})"
            )
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server if it runs (``mode``: smart, fast or immediate, as pg_ctl's)."""
        if not (self.cluster / "postmaster.pid").exists():
            return
        command = [str(self.bin / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.cluster)]
        result = self._run(command)
        if result.returncode != 0 and (self.cluster / "postmaster.pid").exists():
            raise ServerError(f"PostgreSQL did not stop: {result.stderr.strip()}")

    def restart(self, timeout: float = 60) -> None:
        self.stop()
        self.start(timeout)

    def is_ready(self) -> bool:
        """Whether the server accepts connections now (pg_isready over TCP)."""
        command = [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        if not (self.bin / "pg_isready").exists():  # a non-Debian layout without it
            return wait_port(self.port, 0.1)
        return subprocess.run(command, check=False, timeout=10).returncode == 0

    # -- databases --------------------------------------------------------------------

    @property
    def password(self) -> str:
        return self._password_file.read_text().strip()

    def url(
        self, database: str = MAINTENANCE_DATABASE, *, driver: str = "postgresql+psycopg"
    ) -> str:
        """A SQLAlchemy URL of ``database`` (``driver="postgresql"`` for libpq's form)."""
        return f"{driver}://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def jdbc_url(self, database: str) -> str:
        """The URL a Java client (Keycloak's KC_DB_URL) uses; user and password go apart."""
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{database}"

    @property
    def user(self) -> str:
        return SUPERUSER

    def create_database(self, name: str) -> str:
        """Create ``name`` unless it exists; return its URL."""
        with self._maintenance(name) as connection:
            query = "SELECT 1 FROM pg_database WHERE datname = %s"
            if not connection.execute(query, (name,)).fetchone():
                connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, ending the connections still open to it."""
        with self._maintenance(name) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextlib.contextmanager
    def _maintenance(self, name: str) -> Iterator[Any]:
        """A connection to the superuser's own database, to create or drop ``name``."""
        import psycopg

        if not _NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.url(driver="postgresql"), autocommit=True) as connection:
            yield connection

    # -- internals --------------------------------------------------------------------

    def _init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        _reachable_by(self.data_dir, self._owner)
        new_password(self._password_file)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        for path in (self.data_dir, self._password_file, self.socket_dir):
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        command = [
            str(self.bin / "initdb"),
            f"--pgdata={self.cluster}",
            f"--username={SUPERUSER}",
            f"--pwfile={self._password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ]
        if not self.durable:
            command.append("--no-sync")
        result = self._run(command)
        if result.returncode != 0:
            raise ServerError(f"initdb failed in {self.cluster}:\n{result.stderr.strip()}")
        conf = self.cluster / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write(
                "\n# The platform's settings (portal.hosting.localdb), rewritten per start.\n"
            )
            handle.write("include 'platform.conf'\n")

    def _write_settings(self) -> None:
        """Port, addresses and limits, written before each start (the port may change)."""
        lines = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.socket_dir}'",
            f"max_connections = {self.max_connections}",
            "fsync = on" if self.durable else "fsync = off",
            "full_page_writes = on" if self.durable else "full_page_writes = off",
            "ssl = off",
        ]
        path = self.cluster / "platform.conf"
        path.write_text("\n".join(lines) + "\n")
        os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program as the cluster's owner, in a neutral folder."""
        switch = {}
        if os.geteuid() == 0:
            switch = {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.data_dir if self.data_dir.exists() else "/",
            env=env,
            timeout=300,
            **switch,
        )


def _unprivileged_owner() -> pwd.struct_passwd:
    """Who runs PostgreSQL: ``postgres`` under root (it refuses root), else ourselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        raise ServerNotInstalled(
            f"no {POSTGRES_USER!r} user: install Debian's postgresql (make system-packages)"
        ) from None


def _reachable_by(path: Path, owner: pwd.struct_passwd) -> None:
    """Fail clearly when ``owner`` could not enter a folder above ``path``."""
    if owner.pw_uid == os.geteuid():
        return
    for parent in path.parents:
        mode = parent.stat().st_mode
        if parent.stat().st_uid != owner.pw_uid and not mode & 0o001:
            raise ServerError(
                f"{parent} is closed to the {owner.pw_name!r} user that runs PostgreSQL: "
                f"choose a data folder under folders others may enter (chmod o+x)"
            )
