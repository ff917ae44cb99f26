"""Redis from the system's packages as a local process (see the package's docstring)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .common import ServerError, ServerNotInstalled, log_tail, new_password, wait_port

__all__ = ["RedisServer"]


class RedisServer:
    """A Redis server on 127.0.0.1:``port`` with a generated password, files in ``data_dir``.

    ``persistent=False`` (tests) keeps everything in memory; otherwise an append-only
    file in ``data_dir`` keeps sessions across a restart.
    """

    def __init__(self, data_dir: Path, port: int, *, persistent: bool = True) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.persistent = persistent
        self.config = self.data_dir / "redis.conf"
        self.log = self.data_dir / "redis.log"
        self.pid_file = self.data_dir / "redis.pid"
        self._password_file = self.data_dir / "password"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def password(self) -> str:
        return self._password_file.read_text().strip()

    def url(self, database: int = 0) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30) -> RedisServer:
        program = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(program).exists():
            raise ServerNotInstalled("Redis is not installed: run `make system-packages`")
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self._password_file.exists():
            new_password(self._password_file)
        self._write_config()
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [program, str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                start_new_session=True,
            )
        if not wait_port(self.port, timeout, alive=lambda: self._process.poll() is None):
            self.stop()
            raise ServerError(
                f"Redis did not start on port {self.port}:\n{log_tail(self.log)}\n(log: {self.log})"
            )
        return self

    def is_ready(self) -> bool:
        """Whether Redis answers an authenticated PING now."""
        import redis

        try:
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            once = Retry(NoBackoff(), 0)  # redis-py retries refused connections by default
            client = redis.Redis.from_url(self.url(), socket_timeout=2, retry=once)
            return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self, timeout: float = 10) -> None:
        """Stop the server this object (or an earlier process, by its pid file) started."""
        pid = self._process.pid if self._process else _read_pid(self.pid_file)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _running(pid, self._process):
            time.sleep(0.05)
        if _running(pid, self._process):
            os.kill(pid, signal.SIGKILL)
        if self._process is not None:
            self._process.wait(timeout=timeout)
            self._process = None
        self.pid_file.unlink(missing_ok=True)

    def _write_config(self) -> None:
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            "protected-mode yes",
            f"requirepass {self.password}",
            f"dir {self.data_dir}",
            f"pidfile {self.pid_file}",
            "daemonize no",
            "save ''",
            "appendonly yes" if self.persistent else "appendonly no",
        ]
        self.config.write_text("\n".join(lines) + "\n")
        self.config.chmod(0o600)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _running(pid: int, process: subprocess.Popen[bytes] | None) -> bool:
    if process is not None:
        return process.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
