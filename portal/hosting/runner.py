"""Runners: start, watch and stop app versions. `LocalRunner` uses supervisord on this host.

The portal talks to the `Runner` interface only, so a Kubernetes backend (a Deployment
and a Service per app version) can replace `LocalRunner` without the portal changing.
"""

from __future__ import annotations

import itertools
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from portal.hosting.idle import IdleTimeouts
from portal.hosting.isolation import Isolation, prepare_paths, venv_base_prefix, wrap
from portal.hosting.memlimit import program_cgroup
from portal.hosting.memwatch import MemoryLimits
from portal.hosting.restarts import Restarts
from portal.hosting.supervisor import ProgramState, Supervisor, SupervisorError

DEFAULT_WSGI_TARGET = "dash_appkit.serve:application"
FAILED_STATES = frozenset({"FATAL", "EXITED"})


class StartError(Exception):
    """An app version did not come up; the message carries the end of its log."""


@dataclass(frozen=True)
class ProcessSpec:
    """Everything needed to run one app version as gunicorn on a unix socket."""

    name: str
    slug: str
    bundle_dir: Path
    venv_dir: Path
    data_dir: Path
    run_dir: Path
    socket_path: Path
    log_path: Path
    workers: int = 2
    wsgi_target: str = DEFAULT_WSGI_TARGET
    env: Mapping[str, str] = field(default_factory=dict)
    uid: int | None = None
    url_prefix: str = ""
    #: Restart the app when its processes together hold more (portal.hosting.memwatch).
    memory_limit_mb: int | None = None
    #: Stop the app after this long without requests (portal.hosting.idle).
    idle_timeout_s: int | None = None

    def __post_init__(self) -> None:
        if not self.url_prefix:
            object.__setattr__(self, "url_prefix", f"/apps/{self.slug}/")


class Runner(Protocol):
    """What the portal needs from a place that runs app versions."""

    isolation: Isolation

    def start(self, spec: ProcessSpec) -> None:
        """Start the version (returns at once; see wait_ready); StartError if it cannot."""

    def stop(self, name: str) -> None:
        """Stop the version and forget it; fine if it is not running."""

    def state(self, name: str) -> ProgramState:
        """The version's state ('RUNNING', 'FATAL', 'ABSENT', ...)."""

    def resume(self, name: str) -> None:
        """Start again a version stopped for being idle (scale to zero)."""

    def wait_ready(self, spec: ProcessSpec, timeout: float) -> None:
        """Return once the version answers HTTP; raise StartError if it cannot."""


def http_status_line(socket_path: Path, path: str, *, timeout: float = 5) -> str | None:
    """The status line answered to `GET path` over a unix socket, or None if no answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            data = b""
            while b"\r\n" not in data and len(data) < 4096:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    return line if line.startswith("HTTP/") else None


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file ('' if there is none)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class LocalRunner:
    """Runs each app version as a supervisord program: gunicorn, isolated, on a socket."""

    def __init__(
        self,
        supervisor: Supervisor,
        isolation: Isolation,
        *,
        frontdoor_gid: int | None,
        start_retries: int = 3,
        start_seconds: int = 3,
    ) -> None:
        self.supervisor = supervisor
        self.isolation = isolation
        self.frontdoor_gid = frontdoor_gid
        self.start_retries = start_retries
        self.start_seconds = start_seconds

    def command(self, spec: ProcessSpec) -> list[str]:
        """gunicorn's argv for `spec` (before the isolation prefix)."""
        return [
            str(spec.venv_dir / "bin" / "gunicorn"),
            "--workers",
            str(spec.workers),
            "--threads",
            "4",
            "--bind",
            f"unix:{spec.socket_path}",
            "--chdir",
            str(spec.bundle_dir),
            "--preload",
            "--timeout",
            "120",
            "--graceful-timeout",
            "10",
            # No access log: every line would cross supervisord's pipe (a Python process),
            # which halves a small app's throughput; the app's own output is its log.
            "--error-logfile",
            "-",
            # Its default control socket is $HOME/.gunicorn/gunicorn.ctl: shared by two
            # versions of one app (same HOME) and not needed here.
            "--no-control-socket",
            spec.wsgi_target,
        ]

    def environment(self, spec: ProcessSpec) -> dict[str, str]:
        """The app's whole environment: its own variables, then the platform's fixed ones."""
        return {
            **spec.env,
            "PATH": f"{spec.venv_dir / 'bin'}:/usr/bin:/bin",
            "HOME": str(spec.data_dir),
            "TMPDIR": "/tmp",  # noqa: S108 - private to the app inside the sandbox
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, spec: ProcessSpec) -> None:
        """Lock down the app's folders and add it to supervisord (which starts it)."""
        prepare_paths(
            self.isolation,
            uid=spec.uid,
            bundle=spec.bundle_dir,
            data=spec.data_dir,
            rundir=spec.run_dir,
            frontdoor_gid=self.frontdoor_gid,
        )
        spec.socket_path.unlink(missing_ok=True)
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        MemoryLimits(self.supervisor.root).set(spec.name, spec.memory_limit_mb)
        IdleTimeouts(self.supervisor.root).set(spec.name, spec.slug, spec.idle_timeout_s)
        Restarts(self.supervisor.root).watch(spec.name)
        base = venv_base_prefix(spec.venv_dir)
        argv = wrap(
            self.isolation,
            self.command(spec),
            uid=spec.uid,
            bundle=spec.bundle_dir,
            venv=spec.venv_dir,
            data=spec.data_dir,
            rundir=spec.run_dir,
            extra_ro=[base] if base else [],
        )
        if spec.memory_limit_mb:  # the kernel's limit, entered as root before isolation
            limit = str(spec.memory_limit_mb * 1024 * 1024)
            memlimit = [sys.executable, "-m", "portal.hosting.memlimit", "--program", spec.name]
            argv = [*memlimit, "--limit-bytes", limit, "--", *argv]
        # Outside the isolation: timestamps every line the app prints (its log).
        argv = [sys.executable, "-m", "portal.hosting.logstamp", "--", *argv]
        try:
            self.supervisor.add_program(
                spec.name,
                command=argv,
                env=self.environment(spec),
                directory=spec.bundle_dir,
                log_path=spec.log_path,
                startsecs=self.start_seconds,
                startretries=self.start_retries,
            )
        except SupervisorError as exc:
            raise StartError(f"{spec.name} could not be started: {exc}") from exc

    def wait_ready(self, spec: ProcessSpec, timeout: float) -> None:
        """Poll until gunicorn answers on its socket, or the program failed, or time ran out."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.supervisor.state(spec.name)
            if state.statename in FAILED_STATES or state.statename == "ABSENT":
                raise StartError(self._failure(spec, f"it is {state.statename}"))
            if http_status_line(spec.socket_path, spec.url_prefix, timeout=2) is not None:
                broken = self._unhealthy(spec)
                if broken:
                    raise StartError(self._failure(spec, broken))
                return
            if time.monotonic() > deadline:
                raise StartError(self._failure(spec, f"no answer within {timeout:.0f}s"))
            time.sleep(0.1)

    def _unhealthy(self, spec: ProcessSpec) -> str | None:
        """Why the app is not fit to take traffic, once it answers; None if it is.

        A Dash app must serve its layout (``_dash-layout``); anything else its root page.
        The probe carries no identity, as an app must cope with (the built-in ones show
        a bare page), so only a server error counts against it.
        """
        for path in (f"{spec.url_prefix}_dash-layout", spec.url_prefix):
            line = http_status_line(spec.socket_path, path, timeout=30) or "no answer"
            status = line.split(" ", 2)[1] if line.count(" ") >= 1 else ""
            if status == "404" and path.endswith("_dash-layout"):
                continue  # not a Dash app: its root page decides
            if not status.isdigit() or int(status) >= 500:
                return f"GET {path} answered {line!r}"
            return None
        return None

    def _failure(self, spec: ProcessSpec, why: str) -> str:
        tail = log_tail(spec.log_path)
        return f"{spec.name} did not start ({why}). End of its log:\n{tail}"

    def stop(self, name: str) -> None:
        """Remove the program (stopping it), its memory limit and its socket file."""
        MemoryLimits(self.supervisor.root).set(name, None)
        IdleTimeouts(self.supervisor.root).set(name, "", None)
        Restarts(self.supervisor.root).forget(name)
        command = self.supervisor.program_command(name) or []
        self.supervisor.remove_program(name)
        cgroup = program_cgroup(name)
        if cgroup is not None:
            cgroup.remove()  # empty now (the watchdog also sweeps any left behind)
        for arg, value in itertools.pairwise(command):
            if arg == "--bind" and value.startswith("unix:"):
                Path(value.removeprefix("unix:")).unlink(missing_ok=True)

    def resume(self, name: str) -> None:
        """Start again a program the idle watchdog stopped."""
        self.supervisor.resume(name)

    def state(self, name: str) -> ProgramState:
        """The program's state as supervisord reports it."""
        return self.supervisor.state(name)
