"""Where each piece of a hosted app lives under ``settings.apps_dir`` (docs/hosting.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["AppPaths"]


@dataclass(frozen=True)
class AppPaths:
    """The folder layout of hosted apps, in one place."""

    root: Path

    @property
    def envs(self) -> Path:
        return self.root / "envs"

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    @property
    def supervisor(self) -> Path:
        return self.root / "supervisor"

    @property
    def run(self) -> Path:
        return self.root / "run"

    def bundles(self, slug: str) -> Path:
        return self.root / "bundles" / slug

    def bundle(self, slug: str, deployment_id: int) -> Path:
        return self.bundles(slug) / str(deployment_id)

    def data(self, slug: str) -> Path:
        return self.root / "data" / slug

    def run_dir(self, slug: str) -> Path:
        return self.run / slug

    def socket(self, slug: str, deployment_id: int) -> Path:
        return self.run_dir(slug) / f"{deployment_id}.sock"

    def active_socket(self, slug: str) -> Path:
        """What the front door connects to: a symlink to the active deployment's socket."""
        return self.run_dir(slug) / "app.sock"

    def logs(self, slug: str) -> Path:
        return self.root / "logs" / slug

    def build_log(self, slug: str, deployment_id: int) -> Path:
        return self.logs(slug) / f"{deployment_id}.build.log"

    def app_log(self, slug: str) -> Path:
        return self.logs(slug) / "app.log"

    def lock(self, slug: str) -> Path:
        return self.root / "locks" / f"{slug}.lock"

    def make(self) -> None:
        """Create the top folders: traversable by app users and nginx, listable by none."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)
        for sub in ("bundles", "data", "run", "logs", "locks", "envs", "wheels"):
            path = self.root / sub
            path.mkdir(exist_ok=True)
            path.chmod(0o755 if sub in ("envs", "wheels") else 0o711)
        for private in ("logs", "locks"):
            (self.root / private).chmod(0o700)
