"""The platform as local processes: supervisord with the apps, the portal, the front door.

`make up` (scripts/stack.py) and the integration tests start the same thing through
:class:`LocalPlatform`, so what the tests exercise is what a developer runs:

1. supervisord (started with a clean environment), which runs every process below;
2. ``flask db upgrade`` (the schema), then ``flask platform start``: registers the demo
   apps, publishes the app library, restarts active apps, deploys the built-in apps of
   app/<slug>/ that were never deployed;
3. the portal under gunicorn, on a unix socket only the front door can reach;
4. nginx on the one public listener.

The portal and nginx are supervisord programs like the apps: restarted when they exit
(with supervisord's growing pauses between failed starts), their output kept in
<data_dir>/logs/ (0700), rotated at a fixed size; supervisord.log says when and why each
exited. Stopping supervisord stops them all.
"""

from __future__ import annotations

import functools
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

from portal.settings import Settings

from .frontdoor import FrontDoor, Routes
from .launch import stop_orphans
from .layout import PlatformLayout
from .memwatch import WATCHDOG
from .programs import PREPARE_STEPS, Program, carried_env, portal_command
from .runner import http_status_line, log_tail
from .supervisor import Supervisor

__all__ = [
    "FRONTDOOR",
    "PLATFORM_LOG_BACKUPS",
    "PLATFORM_LOG_MAXBYTES",
    "PLATFORM_PROGRAMS",
    "PLATFORM_RETRIES",
    "PORTAL",
    "LocalPlatform",
    "PlatformStartError",
]

#: The supervisord programs of the portal's gunicorn and of nginx.
PORTAL = "platform-portal"
FRONTDOOR = "platform-frontdoor"
#: The platform's own programs next to the apps (the memory watchdog is started by
#: ``flask platform start``).
PLATFORM_PROGRAMS = (PORTAL, FRONTDOOR, WATCHDOG)
#: Failed starts in a row before supervisord gives up on a platform process: with its
#: pauses of 1, 2, 3 ... s between them, about three minutes of trying.
PLATFORM_RETRIES = 20
#: The platform's logs are rotated at this size, keeping this many old files.
PLATFORM_LOG_MAXBYTES = "10MB"
PLATFORM_LOG_BACKUPS = 5
#: States in which a program being started has failed.
_FAILED = ("BACKOFF", "FATAL", "EXITED", "STOPPED", "ABSENT")

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

    @functools.cached_property
    def layout(self) -> PlatformLayout:
        """Its folders: ``data_dir``, with the apps where ``env`` puts them (PORTAL_APPS_DIR)."""
        return PlatformLayout.of(self.data_dir, Settings.read_env(self.env).apps_dir)

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.layout.supervisor_dir)

    @property
    def routes(self) -> Routes:
        return Routes(self.layout.apps_run_dir, self.frontdoor.pid_path)

    @property
    def frontdoor(self) -> FrontDoor:
        return FrontDoor(
            root=self.layout.frontdoor_dir,
            listen=self.listen,
            portal_socket=self.layout.portal_socket,
            apps_run_dir=self.layout.apps_run_dir,
        )

    def _portal_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PORTAL_DATA_DIR": str(self.layout.data_dir),
            "PORTAL_APPS_DIR": str(self.layout.apps_dir),
            "PORTAL_PUBLIC_URL": self.url,
            "PORTAL_FRONTDOOR_PID": str(self.frontdoor.pid_path),
            **self.env,
        }

    def _private_dirs(self) -> None:
        """The data folder: enterable (apps live below it) but not listable; secrets 0600."""
        self.layout.data_dir.mkdir(parents=True, exist_ok=True)
        self.layout.data_dir.chmod(0o711)
        self.layout.logs_dir.mkdir(exist_ok=True)
        self.layout.logs_dir.chmod(0o700)
        self.layout.run_dir.mkdir(exist_ok=True)
        self.layout.run_dir.chmod(0o750)
        if os.geteuid() == 0:
            # nginx's workers (group nogroup) connect to the portal's socket; apps cannot.
            os.chown(self.layout.run_dir, 0, grp.getgrnam("nogroup").gr_gid)

    def portal_program(self, env: Mapping[str, str]) -> Program:
        """The portal's gunicorn as a supervisord program (its log: stdout and stderr)."""
        return Program(
            name=PORTAL,
            command=[
                *[
                    sys.executable,
                    "-m",
                    "portal.hosting.launch",
                    str(self.layout.portal_master_pid),
                ],
                "--",
                str(BIN / "gunicorn"),
                f"--pid={self.layout.portal_master_pid}",
                f"--bind=unix:{self.layout.portal_socket}",
                f"--workers={self.portal_workers}",
                "--threads=4",
                "--timeout=120",
                # gunicorn 27's control socket defaults to one path per user: two portals
                # (make up and the tests) would take it from each other.
                "--no-control-socket",
                f"--chdir={ROOT}",
                "portal.wsgi:app",
            ],
            directory=ROOT,
            env=env,
            log_path=self.layout.portal_log,
            startsecs=5,
            startretries=PLATFORM_RETRIES,
            priority=200,
            log_maxbytes=PLATFORM_LOG_MAXBYTES,
            log_backups=PLATFORM_LOG_BACKUPS,
        )

    def frontdoor_program(self) -> Program:
        """nginx in the foreground as a supervisord program; QUIT lets requests finish."""
        return Program(
            name=FRONTDOOR,
            command=self.frontdoor.command(),
            directory=self.frontdoor.root,
            log_path=self.layout.frontdoor_log,
            stdout_log_path=self.layout.access_log,
            startsecs=2,
            startretries=PLATFORM_RETRIES,
            stopsignal="QUIT",
            priority=300,
            log_maxbytes=PLATFORM_LOG_MAXBYTES,
            log_backups=PLATFORM_LOG_BACKUPS,
        )

    def start(self, *, say=print, timeout: float = 600) -> None:
        """Start every part, in order; returns once the front door answers /healthz."""
        self._private_dirs()
        self.supervisor.start()
        say("platform: supervisord is running")
        for step in PREPARE_STEPS:
            done = subprocess.run(
                portal_command(*step),
                cwd=ROOT,
                env=self._portal_env(),
                check=False,
                timeout=timeout,
            )
            if done.returncode != 0:
                raise PlatformStartError(f"flask {' '.join(step)} failed: see the lines above")
        self._stop_unsupervised()
        env, left_out = carried_env(self._portal_env())
        if left_out:
            say(f"portal: variables supervisord cannot pass on, left out: {', '.join(left_out)}")
        if self.portal_running() is None:
            self.layout.portal_socket.unlink(missing_ok=True)
        self.supervisor.add(self.portal_program(env), keep_running=True)
        self._wait_up(
            PORTAL,
            lambda: http_status_line(self.layout.portal_socket, "/healthz") is not None,
            timeout,
        )
        self.frontdoor.check()
        nginx_before = self.frontdoor.pid()
        self.supervisor.add(self.frontdoor_program(), keep_running=True)
        if nginx_before is not None and self.frontdoor.pid() == nginx_before:
            self.routes.reload()  # kept running: it reads the configuration just written
        say(f"front door: nginx on {self.listen}")
        self._wait_up(FRONTDOOR, lambda: _healthy(self.url + "/healthz"), 30)

    def _wait_up(self, name: str, answers, timeout: float) -> None:
        """Return once ``answers()``; fail at once if supervisord saw the program fail."""
        deadline = time.monotonic() + timeout
        while not answers():
            state = self.supervisor.state(name)
            late = time.monotonic() > deadline
            if late or state.statename in _FAILED:
                why = f"no answer within {timeout:.0f} s" if late else state.statename
                log = self.layout.portal_log if name == PORTAL else self.layout.frontdoor_log
                raise PlatformStartError(
                    f"{name} did not start ({why}). Last lines of {log}:\n{log_tail(log)}"
                )
            time.sleep(0.2)

    def portal_running(self) -> int | None:
        """The pid of the portal's gunicorn master while supervisord runs it."""
        return self.supervisor.state(PORTAL).pid if self._supervises(PORTAL) else None

    def logs(self) -> list[Path]:
        """The platform's logs, supervisord's own first (when and why a process exited)."""
        apps = sorted(self.layout.apps_logs_dir.glob("*/app.log"))
        own = [
            self.supervisor.root / "supervisord.log",
            self.layout.portal_log,
            self.layout.frontdoor_log,
        ]
        return [*own, self.supervisor.root / "memwatch.log", *apps]

    def stop(self) -> None:
        """Stop the front door, the portal and every app process: nothing is left."""
        self.supervisor.stop()
        stop_orphans(self.frontdoor.pid_path)  # workers of an nginx master killed outright
        stop_orphans(self.layout.portal_master_pid, "gunicorn")  # and of the portal's
        self._stop_unsupervised()

    def _stop_unsupervised(self) -> None:
        """Stop the daemons a platform started before it supervised them (pid files)."""
        if self.frontdoor.pid() is not None and not self._supervises(FRONTDOOR):
            self.frontdoor.stop()
        try:
            pid = int(self.layout.portal_pid.read_text().strip())
            ours = str(self.layout.portal_socket) in Path(f"/proc/{pid}/cmdline").read_text()
        except (OSError, ValueError):
            ours = False
        if ours and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        self.layout.portal_pid.unlink(missing_ok=True)

    def _supervises(self, name: str) -> bool:
        """Whether supervisord runs the program now (it may still count as starting)."""
        if not self.supervisor.running():
            return False
        return self.supervisor.state(name).statename in ("STARTING", "RUNNING")
