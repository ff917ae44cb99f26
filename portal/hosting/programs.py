"""A supervisord program as data: what to run, how to keep it running, where its log goes.

Every process supervisord runs for the platform (app versions, the memory watchdog, the
portal, the front door, Keycloak under `make up`) is one :class:`Program`, written to
`programs/<name>.conf` by :class:`portal.hosting.supervisor.Supervisor`. Each is restarted
when it exits (supervisord waits 1, 2, 3 ... s between failed starts) and its output is
kept in a log file supervisord rotates at a fixed size.
"""

from __future__ import annotations

import configparser
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from supervisor.datatypes import dict_of_key_value_pairs

__all__ = [
    "PREPARE_STEPS",
    "Program",
    "ProgramError",
    "carried_env",
    "carries_env_value",
    "config_value",
    "portal_command",
    "program_command",
]

#: What runs once, in order, before the portal's workers start (the local mode and the
#: container both): the schema to the newest migration, then the apps.
PREPARE_STEPS: tuple[tuple[str, ...], ...] = (("db", "upgrade"), ("platform", "start"))

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", re.ASCII)
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_SIGNALS = ("TERM", "HUP", "INT", "QUIT", "KILL", "USR1", "USR2")


def portal_command(*args: str) -> list[str]:
    """``flask --app portal.wsgi <args>`` with this Python (its venv's Flask)."""
    return [sys.executable, "-m", "flask", "--app", "portal.wsgi", *args]


class ProgramError(ValueError):
    """A program that supervisord would refuse or read back differently."""


@dataclass(frozen=True)
class Program:
    """One supervisord program: restarted whenever it exits, its output kept and capped."""

    name: str
    command: list[str]
    directory: Path
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    #: It must run this long to count as started; a quicker exit is a failed start.
    startsecs: int = 3
    #: Failed starts in a row (each waited for 1, 2, 3 ... s longer) before it is FATAL.
    startretries: int = 3
    stopsignal: str = "TERM"
    stopwaitsecs: int = 15
    #: Lower starts first and stops last.
    priority: int = 999
    #: Its log (stdout and stderr) is rotated at this size, keeping this many old files.
    log_maxbytes: str = "5MB"
    log_backups: int = 2
    #: Where stdout goes when stderr is a separate log (nginx: the access log); None: both
    #: go to ``log_path``.
    stdout_log_path: Path | None = None

    def render(self) -> str:
        """The program's section as supervisord reads it; refuses what it would misread."""
        if not _NAME.fullmatch(self.name):
            raise ProgramError(f"bad program name {self.name!r}")
        if self.stopsignal not in _SIGNALS:
            raise ProgramError(f"bad stop signal {self.stopsignal!r}")
        environment = ",".join(_env_item(k, v) for k, v in sorted(self.env.items()))
        text = f"""[program:{self.name}]
command={config_value(shlex.join(self.command))}
directory={config_value(str(self.directory))}
environment={config_value(environment)}
priority={int(self.priority)}
autostart=true
autorestart=true
startsecs={int(self.startsecs)}
startretries={int(self.startretries)}
stopsignal={self.stopsignal}
stopwaitsecs={int(self.stopwaitsecs)}
stopasgroup=true
killasgroup=true
{self._logs()}"""
        self._check_round_trip(text)
        return text

    def _logs(self) -> str:
        size, backups = config_value(self.log_maxbytes), int(self.log_backups)
        if self.stdout_log_path is None:
            streams = [("stdout", self.log_path)]
            lines = ["redirect_stderr=true"]
        else:
            streams = [("stdout", self.stdout_log_path), ("stderr", self.log_path)]
            lines = ["redirect_stderr=false"]
        for stream, path in streams:
            lines += [
                f"{stream}_logfile={config_value(str(path))}",
                f"{stream}_logfile_maxbytes={size}",
                f"{stream}_logfile_backups={backups}",
            ]
        return "\n".join(lines) + "\n"

    def _check_round_trip(self, text: str) -> None:
        """Refuse a program file that supervisord would read back differently.

        Its parser cuts values at ' ;' and ' #' and strips quotes around environment
        values, so some values cannot be carried; better a clear refusal than a different
        command.
        """
        try:
            section = _parse_back(text)[f"program:{self.name}"]
            same = (
                shlex.split(section["command"] % {}) == self.command
                and dict_of_key_value_pairs(section["environment"] % {}) == dict(self.env)
                and section["stdout_logfile"] % {} == str(self.stdout_log_path or self.log_path)
                and section["directory"] % {} == str(self.directory)
            )
        except (ValueError, KeyError, configparser.Error):
            same = False
        if not same:
            raise ProgramError(
                f"program {self.name}: supervisor would misread its command, environment or "
                "a path (values with ' ;', ' #', or leading/trailing quotes cannot be passed)"
            )


def config_value(text: str) -> str:
    """`text` escaped for a supervisor config value ('%' is its expansion character)."""
    if "\x00" in text or "\n" in text or "\r" in text:
        raise ProgramError(f"NUL or newline in a supervisor setting: {text!r}")
    if "%(here)s" in text:  # supervisord replaces it verbatim, even after '%'
        raise ProgramError(f"'%(here)s' cannot be passed through supervisor: {text!r}")
    return text.replace("%", "%%")


def _env_item(key: str, value: str) -> str:
    """KEY="value" (or single quotes) as supervisor's environment parser reads it back."""
    if not _ENV_KEY.fullmatch(key):
        raise ProgramError(f"bad environment variable name {key!r}")
    quote = "'" if '"' in value else '"'
    return f"{key}={quote}{value}{quote}"


def carries_env_value(value: str) -> bool:
    """Whether supervisor reads `value` back unchanged as an environment value."""
    try:
        parser = _parse_back(f"[x]\nenvironment={_env_item('X', config_value(value))}\n")
        return dict_of_key_value_pairs(parser["x"]["environment"] % {}) == {"X": value}
    except (ProgramError, ValueError, KeyError, configparser.Error):
        return False


def carried_env(env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The variables of `env` supervisor can pass on unchanged, and the names of the rest.

    A platform process gets the environment it was started from (settings, proxies, CA
    bundles); the rare variable supervisor cannot carry (a shell function, a value with
    ' ;') is left out and named, rather than passed on changed.
    """
    kept: dict[str, str] = {}
    left_out: list[str] = []
    for key, value in env.items():
        if _ENV_KEY.fullmatch(key) and carries_env_value(value):
            kept[key] = value
        else:
            left_out.append(key)
    return kept, sorted(left_out)


def _parse_back(text: str) -> configparser.RawConfigParser:
    """Read a program file back the way supervisord will (inline ; and # comments)."""
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    parser.read_string(text)
    return parser


def program_command(text: str, name: str) -> list[str]:
    """The command of program `name` in a program file's text."""
    return shlex.split(_parse_back(text)[f"program:{name}"]["command"] % {})
