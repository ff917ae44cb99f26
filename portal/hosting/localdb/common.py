"""What both local servers share: their errors, a free port, waiting for a listener."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "ServerError",
    "ServerNotInstalled",
    "free_port",
    "log_tail",
    "new_password",
    "wait_port",
]


class ServerError(RuntimeError):
    """A server did not start or stop; the message says why and where its log is."""


class ServerNotInstalled(ServerError):
    """The server's programs are missing (``make system-packages`` installs them)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(path: Path, lines: int = 20) -> str:
    """The last lines of a server's log, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_port(port: int, timeout: float, alive: Callable[[], bool] | None = None) -> bool:
    """Whether 127.0.0.1:``port`` accepts a connection within ``timeout`` (False at once
    when ``alive`` says the server exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def new_password(path: Path) -> None:
    """A random password in ``path``, readable by its owner only."""
    path.write_text(secrets.token_urlsafe(24) + "\n")
    path.chmod(0o600)
