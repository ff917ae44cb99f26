"""Deployments: apps as bundles, built into their own environments, run as their own processes.

``init_app(app)`` makes the app's :class:`Hosting` (``services().hosting``): where
apps live, the environment builder, the runner (supervisord locally) and the pool that
runs deployments in the background. The pipeline is :mod:`portal.deploys.pipeline`.
"""

from __future__ import annotations

import functools
import grp
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from portal.hosting import memlimit
from portal.hosting.builds import EnvironmentBuilder, default_python
from portal.hosting.frontdoor import Routes
from portal.hosting.idle import IdleTimeouts
from portal.hosting.isolation import Isolation
from portal.hosting.layout import PlatformLayout
from portal.hosting.runner import LocalRunner, Runner
from portal.hosting.supervisor import Supervisor
from portal.services import services
from portal.settings import Settings

from .paths import AppPaths

__all__ = ["APPKIT_DIR", "GUNICORN_REQUIREMENT", "Hosting", "init_app"]

ROOT = Path(__file__).resolve().parent.parent.parent
#: The app library every app environment gets (published to the find-links folder).
APPKIT_DIR = ROOT / "appkit"
#: The server every app environment gets: apps need not list it.
GUNICORN_REQUIREMENT = "gunicorn==27.0.1"


def _uv() -> str:
    """uv from the platform's own environment (requirements.txt pins it), else from PATH."""
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else (shutil.which("uv") or "uv")


@dataclass
class Hosting:
    """Everything the platform uses to host apps, built from the settings."""

    settings: Settings
    #: Where the platform keeps its files; ``paths``: each app's own, inside them.
    layout: PlatformLayout
    paths: AppPaths
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="deploy")
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> Hosting:
        layout = settings.layout
        return cls(settings=settings, layout=layout, paths=AppPaths(layout))

    @functools.cached_property
    def isolation(self) -> Isolation:
        return Isolation.detect(sandbox=self.settings.app_sandbox)

    @functools.cached_property
    def memory_enforcement(self) -> str:
        """How an app's memory limit is enforced on this host, in words."""
        return memlimit.enforcement()

    @functools.cached_property
    def builder(self) -> EnvironmentBuilder:
        return EnvironmentBuilder(
            self.layout.envs_dir,
            uv=self._builder_uv(),
            python=default_python(),
            platform_requirements=["dash-platform-appkit", GUNICORN_REQUIREMENT],
            find_links=[self.layout.wheels_dir],
            isolation=self.isolation,
        )

    def _builder_uv(self) -> str:
        """uv where the builder's uid can run it: our own venv may sit in a private home."""
        uv = Path(_uv())
        if not self.isolation.per_app_uid or not uv.is_file():
            return str(uv)
        public = self.layout.public_uv
        if not public.exists() or public.stat().st_size != uv.stat().st_size:
            public.parent.mkdir(parents=True, exist_ok=True)
            public.parent.chmod(0o755)
            staged = public.with_suffix(".tmp")
            shutil.copy2(uv, staged)
            staged.chmod(0o755)
            os.replace(staged, public)
        return str(public)

    @functools.cached_property
    def routes(self) -> Routes:
        """The front door's per-app upstreams (kept alive), which the portal maintains."""
        return Routes(self.layout.apps_run_dir, self.settings.frontdoor_pid)

    @functools.cached_property
    def idle(self) -> IdleTimeouts:
        """Idle timeouts and activity marks (scale to zero)."""
        return IdleTimeouts(self.layout.supervisor_dir, self.layout.apps_run_dir)

    @functools.cached_property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.layout.supervisor_dir)

    @functools.cached_property
    def runner(self) -> Runner:
        return LocalRunner(self.supervisor, self.isolation, frontdoor_gid=self.frontdoor_gid)

    @property
    def frontdoor_gid(self) -> int | None:
        """The group nginx's workers run as, when we are root (else: our own files)."""
        if os.geteuid() != 0:
            return None
        try:
            return grp.getgrnam(self.settings.frontdoor_group).gr_gid
        except KeyError:
            return None

    @property
    def uv(self) -> str:
        return _uv()


def init_app(app: Flask) -> None:
    """Attach the hosting services; nothing is started here (``flask platform start`` does)."""
    platform = services(app)
    platform.hosting = Hosting.from_settings(platform.settings)
