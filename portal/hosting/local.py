"""The platform as local processes: supervisord with the apps, the portal, the front door.

`make up` (scripts/stack.py) and the integration tests start the same thing through
:class:`LocalPlatform`, so what the tests exercise is what a developer runs:

1. supervisord (started with a clean environment), which runs every process below;
2. ``flask db upgrade`` (the schema), then ``flask platform start``: registers the demo
   apps, publishes the app library, restarts active apps, deploys the built-in apps of
   app/<slug>/ that were never deployed;
3. the portal under gunicorn, on a unix socket only the front door can reach; with
   ``replicas`` > 1, that many portal processes (supervisord programs platform-portal,
   platform-portal-2, ...), each on its own socket, sharing the database and sessions;
4. nginx on the one public listener, sending the portal's requests (and its auth_request
   subrequests) to any portal process that answers.

The portal and nginx are supervisord programs like the apps: restarted when they exit
(with supervisord's growing pauses between failed starts), their output kept in
<data_dir>/logs/ (0700), rotated at a fixed size; supervisord.log says when and why each
exited. Stopping supervisord stops them all.
"""

from __future__ import annotations

import functools
import grp
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from portal.settings import Settings

from .frontdoor import FrontDoor, Routes
from .launch import stop_orphans
from .layout import PlatformLayout
from .platform_programs import (
    FRONTDOOR,
    PORTAL,
    ROOT,
    PortalReplica,
    frontdoor_program,
    portal_program,
)
from .programs import PREPARE_STEPS, Program, carried_env, portal_command
from .runner import http_status_line, log_tail
from .supervisor import Supervisor

__all__ = ["LocalPlatform", "PlatformStartError"]

#: States in which a program being started has failed.
_FAILED = ("BACKOFF", "FATAL", "EXITED", "STOPPED", "ABSENT")


class PlatformStartError(RuntimeError):
    """A part of the platform did not start; the message says which and where to look."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _replica_answering(url: str) -> str | None:
    """The replica named by the /healthz answer at ``url`` (a 200), or None."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return json.load(response).get("replica") if response.status == 200 else None
    except (OSError, ValueError):
        return None


@dataclass
class LocalPlatform:
    """One local platform: its folders, its listener and the environment of the portal."""

    data_dir: Path
    listen: str = "127.0.0.1:8050"
    env: Mapping[str, str] = field(default_factory=dict)
    portal_workers: int = 2
    #: Portal processes behind the front door (each with ``portal_workers`` workers).
    replicas: int = 1

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise ValueError(f"a platform runs at least one portal process, not {self.replicas}")

    @functools.cached_property
    def layout(self) -> PlatformLayout:
        """Its folders: ``data_dir``, with the apps where ``env`` puts them (PORTAL_APPS_DIR)."""
        return PlatformLayout.of(self.data_dir, Settings.read_env(self.env).apps_dir)

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    @property
    def portal_replicas(self) -> list[PortalReplica]:
        return [PortalReplica.number(self.layout, n) for n in range(1, self.replicas + 1)]

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
            portal_servers=tuple(f"unix:{r.files.socket}" for r in self.portal_replicas),
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

    def portal_program(
        self, env: Mapping[str, str], replica: PortalReplica | None = None
    ) -> Program:
        """A portal process's gunicorn (default: the first) as a supervisord program."""
        return portal_program(replica or self.portal_replicas[0], env, self.portal_workers)

    def frontdoor_program(self) -> Program:
        """nginx in the foreground as a supervisord program; QUIT lets requests finish."""
        return frontdoor_program(self.frontdoor, self.layout)

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
        for replica in self.portal_replicas:
            if not self._supervises(replica.name):
                replica.files.socket.unlink(missing_ok=True)
            self.supervisor.add(self.portal_program(env, replica), keep_running=True)
        for replica in self.portal_replicas:
            socket = replica.files.socket
            answers = functools.partial(http_status_line, socket, "/healthz")
            self._wait_up(replica.name, answers, replica.files.log, timeout)
        self.frontdoor.check()
        nginx_before = self.frontdoor.pid()
        self.supervisor.add(self.frontdoor_program(), keep_running=True)
        if nginx_before is not None and self.frontdoor.pid() == nginx_before:
            self.routes.reload()  # kept running: it reads the configuration just written
        say(f"front door: nginx on {self.listen}, {self.replicas} portal process(es)")
        # Until every replica has answered through it: after a reload, nginx's old workers
        # (the old upstream) still take requests for a moment.
        waiting = {replica.name for replica in self.portal_replicas}

        def every_replica_answered() -> bool:
            waiting.discard(_replica_answering(self.url + "/healthz"))
            return not waiting

        self._wait_up(FRONTDOOR, every_replica_answered, self.layout.frontdoor_log, 30)
        for name in self.portal_programs()[self.replicas :]:
            self.supervisor.remove_program(name)  # an earlier start ran more replicas

    def _wait_up(self, name: str, answers, log: Path, timeout: float) -> None:
        """Return once ``answers()``; fail at once if supervisord saw the program fail."""
        deadline = time.monotonic() + timeout
        while not answers():
            state = self.supervisor.state(name)
            late = time.monotonic() > deadline
            if late or state.statename in _FAILED:
                why = f"no answer within {timeout:.0f} s" if late else state.statename
                raise PlatformStartError(
                    f"{name} did not start ({why}). Last lines of {log}:\n{log_tail(log)}"
                )
            time.sleep(0.2)

    def portal_running(self) -> int | None:
        """The pid of the portal's gunicorn master while supervisord runs it."""
        return self.supervisor.state(PORTAL).pid if self._supervises(PORTAL) else None

    def portal_programs(self) -> list[str]:
        """The portal programs supervisord has (first replica first), this start's or not."""
        suffixes = [
            p.stem.rsplit("-", 1)[1] for p in self.supervisor.programs.glob(f"{PORTAL}-*.conf")
        ]
        numbers = sorted(int(suffix) for suffix in suffixes if suffix.isdigit())
        return [PortalReplica.program_name(n) for n in (1, *numbers)]

    def logs(self) -> list[Path]:
        """The platform's logs, supervisord's own first (when and why a process exited)."""
        apps = sorted(self.layout.apps_logs_dir.glob("*/app.log"))
        replicas = sorted(self.layout.logs_dir.glob("portal-*.log"))
        own = [
            self.supervisor.root / "supervisord.log",
            self.layout.portal_log,
            *replicas,
            self.layout.frontdoor_log,
        ]
        return [*own, self.supervisor.root / "memwatch.log", *apps]

    def stop(self) -> None:
        """Stop the front door, the portal and every app process: nothing is left."""
        self.supervisor.stop()
        stop_orphans(self.frontdoor.pid_path)  # workers of an nginx master killed outright
        for pid_file in self.layout.run_dir.glob("portal*-master.pid"):
            stop_orphans(pid_file, "gunicorn")  # and of the portal's replicas
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
