"""The platform's own supervisord programs in the local mode: the portal and the front door.

Each portal process (replica) is one gunicorn, a program of its own on its own socket:
platform-portal for the first (the names of a platform with one portal), platform-portal-N
for replica N. :class:`portal.hosting.local.LocalPlatform` adds them next to the apps.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .frontdoor import FrontDoor
from .layout import PlatformLayout, PortalFiles
from .memwatch import WATCHDOG
from .programs import Program

__all__ = [
    "FRONTDOOR",
    "PLATFORM_LOG_BACKUPS",
    "PLATFORM_LOG_MAXBYTES",
    "PLATFORM_PROGRAMS",
    "PLATFORM_RETRIES",
    "PORTAL",
    "PortalReplica",
    "frontdoor_program",
    "nginx_program",
    "portal_program",
]

#: The supervisord programs of the portal's gunicorn (its first replica; replica N is
#: platform-portal-N) and of nginx.
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
ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class PortalReplica:
    """One portal process: its supervisord program, whose name is also its PORTAL_REPLICA
    (what /healthz answers), and its files."""

    name: str
    files: PortalFiles

    @classmethod
    def number(cls, layout: PlatformLayout, replica: int) -> PortalReplica:
        return cls(cls.program_name(replica), layout.portal_files(replica))

    @staticmethod
    def program_name(replica: int) -> str:
        """platform-portal for the first replica, platform-portal-N for replica N."""
        return PORTAL if replica == 1 else f"{PORTAL}-{replica}"


def portal_program(replica: PortalReplica, env: Mapping[str, str], workers: int) -> Program:
    """The replica's gunicorn as a supervisord program (its log: stdout and stderr),
    started through the launcher that first stops the workers of a master killed outright."""
    files = replica.files
    return Program(
        name=replica.name,
        command=[
            *[sys.executable, "-m", "portal.hosting.launch", str(files.master_pid)],
            "--",
            str(BIN / "gunicorn"),
            f"--pid={files.master_pid}",
            f"--bind=unix:{files.socket}",
            f"--workers={workers}",
            "--threads=4",
            "--timeout=120",
            # gunicorn 27's control socket defaults to one path per user: two portals
            # (make up and the tests) would take it from each other.
            "--no-control-socket",
            f"--chdir={ROOT}",
            "portal.wsgi:app",
        ],
        directory=ROOT,
        env={**env, "PORTAL_REPLICA": replica.name},
        log_path=files.log,
        startsecs=5,
        startretries=PLATFORM_RETRIES,
        priority=200,
        log_maxbytes=PLATFORM_LOG_MAXBYTES,
        log_backups=PLATFORM_LOG_BACKUPS,
    )


def nginx_program(
    name: str,
    command: list[str],
    root: Path,
    *,
    log_path: Path,
    access_log_path: Path,
    priority: int,
) -> Program:
    """An nginx in the foreground (``command``) as a supervisord program: its error log
    (stderr) and access log (stdout) kept apart; QUIT lets requests finish."""
    return Program(
        name=name,
        command=command,
        directory=root,
        log_path=log_path,
        stdout_log_path=access_log_path,
        startsecs=2,
        startretries=PLATFORM_RETRIES,
        stopsignal="QUIT",
        priority=priority,
        log_maxbytes=PLATFORM_LOG_MAXBYTES,
        log_backups=PLATFORM_LOG_BACKUPS,
    )


def frontdoor_program(frontdoor: FrontDoor, layout: PlatformLayout) -> Program:
    """The front door's nginx as a supervisord program."""
    return nginx_program(
        FRONTDOOR,
        frontdoor.command(),
        frontdoor.root,
        log_path=layout.frontdoor_log,
        access_log_path=layout.access_log,
        priority=300,
    )
