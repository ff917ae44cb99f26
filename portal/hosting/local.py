"""The platform as local processes: supervisord with the apps, the portal, the front door.

`make up` (scripts/stack.py) and the integration tests start the same thing through
:class:`LocalPlatform`, so what the tests exercise is what a developer runs:

1. supervisord, which runs every app's processes (started with a clean environment);
2. ``flask platform start``: publishes the app library, restarts active apps, deploys the
   built-in apps of app/<slug>/ that were never deployed;
3. the portal under gunicorn, on a unix socket only the front door can reach;
4. nginx on the one public listener.
"""

from __future__ import annotations

import grp
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .frontdoor import FrontDoor
from .supervisor import Supervisor

__all__ = ["LocalPlatform", "PlatformStartError"]

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


class PlatformStartError(RuntimeError):
    """A part of the platform did not start; the message says which and where to look."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status == 200
    except OSError:
        return False


@dataclass
class LocalPlatform:
    """One local platform: its folders, its listener and the environment of the portal."""

    data_dir: Path
    listen: str = "127.0.0.1:8050"
    env: Mapping[str, str] = field(default_factory=dict)
    portal_workers: int = 2

    @property
    def apps_dir(self) -> Path:
        return Path(self.env.get("PORTAL_APPS_DIR") or self.data_dir / "apps")

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def portal_socket(self) -> Path:
        return self.run_dir / "portal.sock"

    @property
    def portal_pid(self) -> Path:
        return self.run_dir / "portal.pid"

    @property
    def portal_log(self) -> Path:
        return self.data_dir / "portal.log"

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.apps_dir / "supervisor")

    @property
    def frontdoor(self) -> FrontDoor:
        return FrontDoor(
            root=self.data_dir / "frontdoor",
            listen=self.listen,
            portal_socket=self.portal_socket,
            apps_run_dir=self.apps_dir / "run",
        )

    def _portal_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PORTAL_DATA_DIR": str(self.data_dir),
            "PORTAL_APPS_DIR": str(self.apps_dir),
            "PORTAL_PUBLIC_URL": self.url,
            "PORTAL_FRONTDOOR_PID": str(self.frontdoor.pid_path),
            **self.env,
        }

    def _private_dirs(self) -> None:
        """The data folder: enterable (apps live below it) but not listable; secrets 0600."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o711)
        self.run_dir.mkdir(exist_ok=True)
        self.run_dir.chmod(0o750)
        if os.geteuid() == 0:
            # nginx's workers (group nogroup) connect to the portal's socket; apps cannot.
            os.chown(self.run_dir, 0, grp.getgrnam("nogroup").gr_gid)

    def start(self, *, say=print, timeout: float = 600) -> None:
        """Start every part, in order; returns once the front door answers /healthz."""
        self._private_dirs()
        self.supervisor.start()
        say("apps: supervisord is running")
        platform = subprocess.run(
            [str(BIN / "flask"), "--app", "portal.wsgi", "platform", "start"],
            cwd=ROOT,
            env=self._portal_env(),
            check=False,
            timeout=timeout,
        )
        if platform.returncode != 0:
            raise PlatformStartError("the apps did not start: see the lines above")
        self._start_portal(timeout)
        self.frontdoor.start()
        say(f"front door: nginx on {self.listen}")
        deadline = time.monotonic() + 30
        while not _healthy(self.url + "/healthz"):
            if time.monotonic() > deadline:
                raise PlatformStartError(
                    f"the front door does not answer; see {self.frontdoor.error_log}"
                )
            time.sleep(0.2)

    def _start_portal(self, timeout: float) -> None:
        if self.portal_running():
            return
        self.portal_socket.unlink(missing_ok=True)
        subprocess.run(
            [
                str(BIN / "gunicorn"),
                f"--bind=unix:{self.portal_socket}",
                f"--workers={self.portal_workers}",
                "--threads=4",
                "--timeout=120",
                # gunicorn 27's control socket defaults to one path per user: two portals
                # (make up and the tests) would take it from each other.
                "--no-control-socket",
                "--daemon",
                f"--pid={self.portal_pid}",
                f"--error-logfile={self.portal_log}",
                f"--chdir={ROOT}",
                "portal.wsgi:app",
            ],
            env=self._portal_env(),
            check=True,
        )
        started = time.monotonic()
        while not self.portal_socket.exists():
            elapsed = time.monotonic() - started
            if elapsed > timeout or (elapsed > 5 and not self.portal_running()):
                tail = self.portal_log.read_text()[-3000:] if self.portal_log.exists() else ""
                raise PlatformStartError(f"the portal did not start. Last log lines:\n{tail}")
            time.sleep(0.2)

    def portal_running(self) -> int | None:
        try:
            pid = int(self.portal_pid.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def stop(self) -> None:
        """Stop the front door, the portal and every app process."""
        self.frontdoor.stop()
        pid = self.portal_running()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        self.portal_pid.unlink(missing_ok=True)
        self.supervisor.stop()
