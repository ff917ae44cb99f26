"""supervisord as the process supervisor of app versions, driven over its XML-RPC API.

One supervisord per apps directory, started with a clean environment (its children
inherit it, and an app must get none of the portal's), reachable only through a 0700 unix
socket. Each app version is one program in `programs/<name>.conf`, added and removed at
run time with reloadConfig/addProcessGroup/removeProcessGroup, as supervisorctl does.
"""

from __future__ import annotations

import configparser
import fcntl
import os
import re
import shlex
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.datatypes import dict_of_key_value_pairs
from supervisor.xmlrpc import Faults, SupervisorTransport

CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", re.ASCII)
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


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


def _value(text: str) -> str:
    """`text` escaped for a supervisor config value ('%' is its expansion character)."""
    if "\x00" in text or "\n" in text or "\r" in text:
        raise SupervisorError(f"NUL or newline in a supervisor setting: {text!r}")
    if "%(here)s" in text:  # supervisord replaces it verbatim, even after '%'
        raise SupervisorError(f"'%(here)s' cannot be passed through supervisor: {text!r}")
    return text.replace("%", "%%")


def _env_item(key: str, value: str) -> str:
    """KEY="value" (or single quotes) as supervisor's environment parser reads it back."""
    if not _ENV_KEY.fullmatch(key):
        raise SupervisorError(f"bad environment variable name {key!r}")
    quote = "'" if '"' in value else '"'
    return f"{key}={quote}{value}{quote}"


def carries_env_value(value: str) -> bool:
    """Whether supervisor reads `value` back unchanged as an environment value."""
    try:
        parser = _parse_back(f"[x]\nenvironment={_env_item('X', _value(value))}\n")
        return dict_of_key_value_pairs(parser["x"]["environment"] % {}) == {"X": value}
    except (SupervisorError, ValueError, KeyError, configparser.Error):
        return False


def _parse_back(text: str) -> configparser.RawConfigParser:
    """Read a program file back the way supervisord will (inline ; and # comments)."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    parser.read_string(text)
    return parser


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
        root = _value(str(self.root))
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

    def add_program(
        self,
        name: str,
        *,
        command: list[str],
        env: Mapping[str, str],
        directory: Path,
        log_path: Path,
        startsecs: int = 3,
        startretries: int = 3,
    ) -> None:
        """Write programs/<name>.conf and (re)start it as its own process group."""
        if not _NAME.fullmatch(name):
            raise SupervisorError(f"bad program name {name!r}")
        command_line = shlex.join(command)
        environment = ",".join(_env_item(k, v) for k, v in sorted(env.items()))
        text = f"""[program:{name}]
command={_value(command_line)}
directory={_value(str(directory))}
environment={_value(environment)}
autostart=true
autorestart=true
startsecs={int(startsecs)}
startretries={int(startretries)}
stopsignal=TERM
stopwaitsecs=15
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={_value(str(log_path))}
stdout_logfile_maxbytes=5MB
stdout_logfile_backups=2
"""
        _check_round_trip(
            text, name, command=command, env=env, log_path=log_path, directory=directory
        )
        self.programs.mkdir(parents=True, exist_ok=True)
        path = self.programs / f"{name}.conf"
        _write_private(path, text)
        try:
            self._proxy().reloadConfig()
            if self._exists(name):
                self._stop_quietly(name)
                self._proxy().removeProcessGroup(name)
            self._proxy().addProcessGroup(name)
        except xmlrpc.client.Fault as fault:
            path.unlink(missing_ok=True)  # a bad file would break every later reloadConfig
            raise SupervisorError(f"supervisord refused program {name}: {fault}") from fault

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
        return shlex.split(_parse_back(path.read_text())[f"program:{name}"]["command"] % {})

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


def _check_round_trip(text: str, name: str, *, command: list[str], **values: Any) -> None:
    """Refuse a program file that supervisord would read back differently.

    Its parser cuts values at ' ;' and ' #' and strips quotes around environment values,
    so some values cannot be carried; better a clear refusal than a different command.
    """
    try:
        section = _parse_back(text)[f"program:{name}"]
        same = (
            shlex.split(section["command"] % {}) == command
            and dict_of_key_value_pairs(section["environment"] % {}) == dict(values["env"])
            and section["stdout_logfile"] % {} == str(values["log_path"])
            and section["directory"] % {} == str(values["directory"])
        )
    except (ValueError, KeyError, configparser.Error):
        same = False
    if not same:
        raise SupervisorError(
            f"program {name}: supervisor would misread its command, environment or a path "
            "(values with ' ;', ' #', or leading/trailing quotes cannot be passed)"
        )


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
