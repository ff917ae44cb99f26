"""supervisord as the process supervisor of the platform, driven over its XML-RPC API.

One supervisord per apps directory, started with a clean environment (its children
inherit it, and an app must get none of the portal's), reachable only through a 0700 unix
socket. It runs every app version and the platform's own processes (the portal, the
front door, the memory watchdog; Keycloak under `make up`), each one program
(:class:`portal.hosting.programs.Program`) in `programs/<name>.conf`, added and removed
at run time with reloadConfig/addProcessGroup/removeProcessGroup, as supervisorctl does.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import Faults, SupervisorTransport

from .programs import Program, ProgramError, carries_env_value, config_value, program_command

__all__ = ["CLEAN_ENV", "Program", "ProgramState", "Supervisor", "SupervisorError"]
__all__ += ["carries_env_value"]  # where the deployment settings have always found it

CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


#: A program in one of these states runs or is being (re)started by supervisord.
_UP_STATES = ("STARTING", "RUNNING", "BACKOFF")


class SupervisorError(Exception):
    """supervisord could not be started, stopped or told something."""


@dataclass(frozen=True)
class ProgramState:
    """One program's state as supervisord reports it (statename 'ABSENT' if unknown)."""

    name: str
    statename: str
    description: str = ""
    exitstatus: int = 0
    pid: int = 0
    #: When supervisord last started it (seconds since the epoch; 0 if never).
    start: int = 0

    @property
    def crash_loop(self) -> bool:
        """True when supervisord gave up restarting it (FATAL)."""
        return self.statename == "FATAL"


def _alive(pid: int) -> bool:
    """Whether a process `pid` exists (zombies count as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Supervisor:
    """One supervisord rooted at `root` (config, socket, logs, programs/*.conf)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "supervisord.conf"
        self.socket = root / "supervisor.sock"
        self.programs = root / "programs"
        if len(str(self.socket).encode()) > 100:
            raise SupervisorError(f"{self.socket} is too long for a unix socket path")

    def _proxy(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def write_config(self) -> None:
        """Write supervisord.conf (0600) and create the folders (0700)."""
        for folder in (self.root, self.programs):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        root = config_value(str(self.root))
        text = f"""; written by portal.hosting.supervisor
[unix_http_server]
file={root}/supervisor.sock
chmod=0700

[supervisord]
logfile={root}/supervisord.log
logfile_maxbytes=5MB
logfile_backups=2
pidfile={root}/supervisord.pid
childlogdir={root}
identifier=dash-platform-apps
{"user=root" if os.geteuid() == 0 else ""}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{root}/supervisor.sock

[include]
files = programs/*.conf
"""
        _write_private(self.conf, text)

    def running(self) -> bool:
        """Whether supervisord answers on its socket."""
        try:
            return self._proxy().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def start(self, timeout: float = 20) -> None:
        """Start supervisord (clean environment, daemonised) unless it already runs."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "start.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.running():
                return
            self.write_config()
            program = str(Path(sys.executable).parent / "supervisord")
            with open(self.root / "supervisord.out", "ab") as out:
                subprocess.run(
                    [program, "-c", str(self.conf)],
                    env=dict(CLEAN_ENV),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    cwd=self.root,
                    start_new_session=True,
                    timeout=timeout,
                    check=False,
                )
            deadline = time.monotonic() + timeout
            while not self.running():
                if time.monotonic() > deadline:
                    raise SupervisorError(f"supervisord did not start: {self._log_tail()}")
                time.sleep(0.05)

    def stop(self, timeout: float = 30) -> None:
        """Stop every program and supervisord itself; return once its pid is gone."""
        try:
            pid = self._proxy().getPID()
        except (OSError, xmlrpc.client.Error):
            return  # not running
        self._proxy().stopAllProcesses(True)
        self._proxy().shutdown()
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                raise SupervisorError(f"supervisord (pid {pid}) did not exit in {timeout}s")
            time.sleep(0.05)

    def _log_tail(self, lines: int = 20) -> str:
        texts = []
        for name in ("supervisord.out", "supervisord.log"):
            path = self.root / name
            if path.exists():
                texts += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(texts)

    def add_program(self, name: str, **settings: Any) -> None:
        """Write programs/<name>.conf and (re)start it: :class:`Program`'s fields."""
        self.add(Program(name=name, **settings))

    def add(self, program: Program, *, keep_running: bool = False) -> None:
        """Write the program's file and (re)start it as its own process group.

        With `keep_running`, a program that runs with this very definition is left alone
        (`make up` twice restarts nothing).
        """
        try:
            text = program.render()
        except ProgramError as error:
            raise SupervisorError(str(error)) from error
        self.programs.mkdir(parents=True, exist_ok=True)
        program.log_path.parent.mkdir(parents=True, exist_ok=True)
        path = self.programs / f"{program.name}.conf"
        unchanged = path.exists() and path.read_text() == text
        if keep_running and unchanged and self.state(program.name).statename in _UP_STATES:
            return
        _write_private(path, text)
        try:
            self._proxy().reloadConfig()
            if self._exists(program.name):
                self._stop_quietly(program.name)
                self._proxy().removeProcessGroup(program.name)
            self._proxy().addProcessGroup(program.name)
        except xmlrpc.client.Fault as fault:
            path.unlink(missing_ok=True)  # a bad file would break every later reloadConfig
            raise SupervisorError(f"supervisord refused program {program.name}: {fault}") from fault

    def _exists(self, name: str) -> bool:
        return any(info["group"] == name for info in self._proxy().getAllProcessInfo())

    def _stop_quietly(self, name: str) -> None:
        try:
            self._proxy().stopProcessGroup(name, True)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode not in (Faults.BAD_NAME, Faults.NOT_RUNNING):
                raise

    def remove_program(self, name: str) -> None:
        """Stop the program, forget it and delete its file; fine if it is not there."""
        if self._exists(name):
            self._stop_quietly(name)
            self._proxy().removeProcessGroup(name)
        (self.programs / f"{name}.conf").unlink(missing_ok=True)

    def program_command(self, name: str) -> list[str] | None:
        """The command of a program as written in its file (None if there is none)."""
        path = self.programs / f"{name}.conf"
        if not path.exists():
            return None
        return program_command(path.read_text(), name)

    def state(self, name: str) -> ProgramState:
        """The program's state; statename 'ABSENT' when supervisord does not know it."""
        try:
            info = self._proxy().getProcessInfo(name)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode == Faults.BAD_NAME:
                return ProgramState(name=name, statename="ABSENT")
            raise
        fields = ("statename", "description", "exitstatus", "pid", "start")
        return ProgramState(name=name, **{key: info[key] for key in fields})

    def pause(self, name: str) -> None:
        """Stop the program but keep it configured (it starts again with `resume`)."""
        self._stop_quietly(name)

    def resume(self, name: str) -> None:
        """Start a program stopped by `pause` (nothing if it already runs)."""
        if self.state(name).statename in ("STOPPED", "EXITED", "BACKOFF", "FATAL"):
            self._proxy().startProcess(name, False)

    def restart(self, name: str) -> None:
        """Stop (if running) and start the program again."""
        self._stop_quietly(name)
        self._proxy().startProcess(name, False)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
