"""The platform's file layout: one definition, read the same by every mode."""

from __future__ import annotations

import stat
from pathlib import Path

from portal.deploys.paths import AppPaths
from portal.hosting.layout import PlatformLayout
from portal.hosting.local import LocalPlatform
from portal.settings import Settings


def test_the_layout_is_the_tree_of_docs_hosting(tmp_path: Path) -> None:
    layout = PlatformLayout.of(tmp_path)
    assert layout.apps_dir == tmp_path / "apps"
    assert layout.portal_socket == tmp_path / "run" / "portal.sock"
    assert layout.portal_log == tmp_path / "logs" / "portal.log"
    assert layout.apps_run_dir == tmp_path / "apps" / "run"
    assert layout.supervisor_dir == tmp_path / "apps" / "supervisor"
    elsewhere = PlatformLayout.of(tmp_path, tmp_path / "elsewhere")
    assert elsewhere.envs_dir == tmp_path / "elsewhere" / "envs"
    assert elsewhere.run_dir == layout.run_dir  # the portal's own files stay in data_dir


def test_settings_local_mode_and_reading_agree_on_the_apps_folder(tmp_path: Path) -> None:
    environ = {"PORTAL_DATA_DIR": str(tmp_path), "PORTAL_APPS_DIR": str(tmp_path / "a")}
    read = Settings.read_env(environ)
    assert read.layout == PlatformLayout(tmp_path, tmp_path / "a")
    assert not list(tmp_path.iterdir())  # reading the layout writes no secret key
    assert Settings.from_env(environ).layout == read.layout
    local = LocalPlatform(data_dir=tmp_path, env={"PORTAL_APPS_DIR": str(tmp_path / "a")})
    assert local.layout == read.layout
    assert LocalPlatform(data_dir=tmp_path).layout.apps_dir == tmp_path / "apps"


def test_apps_folders_are_entered_not_listed_and_logs_private(tmp_path: Path) -> None:
    paths = AppPaths(PlatformLayout.of(tmp_path))
    paths.make()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "apps").iterdir()}
    assert modes == {
        "bundles": 0o711,
        "data": 0o711,
        "run": 0o711,
        "logs": 0o700,
        "locks": 0o700,
        "envs": 0o755,
        "wheels": 0o755,
    }
    assert stat.S_IMODE((tmp_path / "apps").stat().st_mode) == 0o711
    assert paths.active_socket("sales") == tmp_path / "apps" / "run" / "sales" / "app.sock"
