"""Where each piece of one hosted app lives, inside the platform's apps folders.

The folders themselves are :class:`portal.hosting.layout.PlatformLayout`'s (docs/hosting.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from portal.hosting.layout import PlatformLayout

__all__ = ["AppPaths"]


@dataclass(frozen=True)
class AppPaths:
    """The paths of an app's bundles, data, sockets, logs and lock, by slug."""

    layout: PlatformLayout

    def bundles(self, slug: str) -> Path:
        return self.layout.bundles_dir / slug

    def bundle(self, slug: str, deployment_id: int) -> Path:
        return self.bundles(slug) / str(deployment_id)

    def data(self, slug: str) -> Path:
        return self.layout.app_data_dir / slug

    def run_dir(self, slug: str) -> Path:
        return self.layout.apps_run_dir / slug

    def socket(self, slug: str, deployment_id: int) -> Path:
        return self.run_dir(slug) / f"{deployment_id}.sock"

    def active_socket(self, slug: str) -> Path:
        """What the front door connects to: a symlink to the active deployment's socket."""
        return self.run_dir(slug) / "app.sock"

    def logs(self, slug: str) -> Path:
        return self.layout.apps_logs_dir / slug

    def build_log(self, slug: str, deployment_id: int) -> Path:
        return self.logs(slug) / f"{deployment_id}.build.log"

    def app_log(self, slug: str) -> Path:
        return self.logs(slug) / "app.log"

    def lock(self, slug: str) -> Path:
        return self.layout.locks_dir / f"{slug}.lock"

    def make(self) -> None:
        """Create the apps' folders: traversable by app users and nginx, listable by none;
        logs and locks private, environments and wheels readable by the apps."""
        layout = self.layout
        layout.apps_dir.mkdir(parents=True, exist_ok=True)
        layout.apps_dir.chmod(0o711)
        modes = {
            layout.bundles_dir: 0o711,
            layout.app_data_dir: 0o711,
            layout.apps_run_dir: 0o711,
            layout.apps_logs_dir: 0o700,
            layout.locks_dir: 0o700,
            layout.envs_dir: 0o755,
            layout.wheels_dir: 0o755,
        }
        for folder, mode in modes.items():
            folder.mkdir(exist_ok=True)
            folder.chmod(mode)
