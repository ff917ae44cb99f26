"""Where the platform keeps its files: one definition for every way it runs.

The local mode (:mod:`portal.hosting.local`), the containers (docker/container.py), the
portal's settings and its app hosting (:mod:`portal.deploys`) all take their paths from
:class:`PlatformLayout`, so a socket, a log or a folder cannot be in two places at once.
docs/hosting.md shows the tree; the per-app paths inside the apps' folders are
:class:`portal.deploys.paths.AppPaths`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import overload

__all__ = ["PlatformLayout", "PortalFiles"]


@dataclass(frozen=True)
class PortalFiles:
    """One portal process's socket, gunicorn master's pid file and log."""

    socket: Path
    master_pid: Path
    log: Path


class _Inside:
    """A path of the layout: ``name`` inside the folder another of its attributes is.

    A table of these reads as the tree itself, each path written once.
    """

    def __init__(self, folder: str, name: str) -> None:
        self.folder = folder
        self.name = name

    @overload
    def __get__(self, layout: None, owner: type) -> _Inside: ...
    @overload
    def __get__(self, layout: PlatformLayout, owner: type) -> Path: ...
    def __get__(self, layout: PlatformLayout | None, owner: type) -> Path | _Inside:
        return self if layout is None else getattr(layout, self.folder) / self.name


@dataclass(frozen=True)
class PlatformLayout:
    """The platform's folders and files, derived from its data folder (PORTAL_DATA_DIR)
    and its apps folder (PORTAL_APPS_DIR); :meth:`of` fills the apps folder's default."""

    data_dir: Path
    apps_dir: Path

    @classmethod
    def of(cls, data_dir: Path, apps_dir: Path | None = None) -> PlatformLayout:
        """The layout of ``data_dir``; the apps live in ``apps_dir``, else <data_dir>/apps."""
        return cls(data_dir=data_dir, apps_dir=apps_dir or data_dir / "apps")

    # The portal's own files, in the data folder (0711: entered, never listed).
    #: The SQLite platform database, when DATABASE_URL names no other.
    database = _Inside("data_dir", "portal.db")
    #: The development secret key (0600), when PORTAL_SECRET_KEY is not set.
    secret_key = _Inside("data_dir", "secret_key")
    thumbnails_dir = _Inside("data_dir", "thumbnails")
    #: The portal's socket folder: nginx's workers enter it, apps do not (0750).
    run_dir = _Inside("data_dir", "run")
    portal_socket = _Inside("run_dir", "portal.sock")
    #: Where the portal's gunicorn kept its pid when it ran as a daemon (before it was
    #: supervised): read only to stop such a portal.
    portal_pid = _Inside("run_dir", "portal.pid")
    #: The supervised portal's gunicorn master (its launcher stops the workers of one
    #: that was killed outright).
    portal_master_pid = _Inside("run_dir", "portal-master.pid")
    #: The platform's own logs (0700: they name users and sessions).
    logs_dir = _Inside("data_dir", "logs")
    portal_log = _Inside("logs_dir", "portal.log")
    frontdoor_log = _Inside("logs_dir", "frontdoor.log")
    #: The front door's access log (nginx writes it to stdout, supervisord rotates it).
    access_log = _Inside("logs_dir", "access.log")
    #: nginx's configuration, pid and temp files in the local mode.
    frontdoor_dir = _Inside("data_dir", "frontdoor")

    # The apps' folders, in the apps folder (0711); AppPaths has an app's part of each.
    bundles_dir = _Inside("apps_dir", "bundles")
    #: The apps' own writable data.
    app_data_dir = _Inside("apps_dir", "data")
    #: The apps' socket folders and the front door's routes to them.
    apps_run_dir = _Inside("apps_dir", "run")
    #: The apps' build and run logs (0700).
    apps_logs_dir = _Inside("apps_dir", "logs")
    #: One lock file per app, held while it is deployed or operated (0700).
    locks_dir = _Inside("apps_dir", "locks")
    #: supervisord's configuration, socket and log; it runs the apps (and, locally, the
    #: portal and nginx).
    supervisor_dir = _Inside("apps_dir", "supervisor")
    #: The apps' virtual environments, shared by apps with the same requirements (0755).
    envs_dir = _Inside("apps_dir", "envs")
    #: The appkit wheel every app environment installs, uv's --find-links (0755).
    wheels_dir = _Inside("apps_dir", "wheels")
    #: A copy of uv the builder's uid can run when the platform's own venv is private.
    public_uv = _Inside("apps_dir", "bin/uv")

    def portal_files(self, replica: int = 1) -> PortalFiles:
        """The files of portal replica ``replica`` (1, 2, ...): the first has the names of
        a platform with one portal (run/portal.sock), replica N run/portal-N.sock and
        logs/portal-N.log, so adding replicas changes nothing for the first."""
        if replica < 1:
            raise ValueError(f"portal replicas count from 1, not {replica}")
        if replica == 1:
            return PortalFiles(self.portal_socket, self.portal_master_pid, self.portal_log)
        return PortalFiles(
            socket=self.run_dir / f"portal-{replica}.sock",
            master_pid=self.run_dir / f"portal-{replica}-master.pid",
            log=self.logs_dir / f"portal-{replica}.log",
        )
