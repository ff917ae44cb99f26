"""Building from source runs a package's own code: only isolated, never as the platform.

A hand-made sdist (no wheel exists for it) records, while it builds, which uid ran its
setup.py and whether it could read a file only the platform may read. Wheels install as
the platform (no package code runs); the source build runs as the builder uid in the
sandbox, with a private cache that is thrown away.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

from portal.hosting.builds import EnvironmentBuilder, build_environment, default_python
from portal.hosting.isolation import BUILDER_UID, Isolation

UV = str(Path(sys.executable).parent / "uv")
PROBE = "platform-build-probe-7f3a"

SETUP_PY = """
import os
from setuptools import setup

try:
    open({secret!r}).read()
    readable = True
except OSError:
    readable = False
os.makedirs("probe_mod", exist_ok=True)
with open("probe_mod/__init__.py", "w") as module:
    module.write(
        f"UID = {{os.getuid()}}\\nSECRET_READABLE = {{readable}}\\n"
        f"ENV = {{sorted(os.environ)!r}}\\n"
    )
setup(name={name!r}, version="0.1", packages=["probe_mod"])
"""


def _sdist(folder: Path, secret: Path) -> None:
    files = {
        "setup.py": SETUP_PY.format(secret=str(secret), name=PROBE).encode(),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: 0.1\n".encode(),
    }
    with tarfile.open(folder / f"{PROBE.replace('-', '_')}-0.1.tar.gz", "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{PROBE.replace('-', '_')}-0.1/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def root() -> Path:
    # Not under pytest's 0700 temp folder: the builder uid must be able to enter it.
    path = Path(tempfile.mkdtemp(prefix="builds-isolated-"))
    path.chmod(0o711)
    return path


def test_build_environment_passes_index_settings_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PORTAL_SECRET_KEY", "s3cret")
    monkeypatch.setenv("KEYCLOAK_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("UV_INDEX_URL", "https://index.example/simple")
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    env = build_environment(tmp_path)
    assert "s3cret" not in env.values()
    assert env["UV_INDEX_URL"] == "https://index.example/simple"
    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert env["HOME"] == str(tmp_path) and env["UV_CACHE_DIR"] == str(tmp_path / "uv")


def test_a_source_build_runs_isolated_and_leaves_a_venv_nobody_else_can_change(
    root: Path,
) -> None:
    secret = root / "secret_key"
    secret.write_text("platform secret")
    secret.chmod(0o600)
    wheels = root / "wheels"
    wheels.mkdir(mode=0o755)
    _sdist(wheels, secret)
    (wheels / next(wheels.iterdir()).name).chmod(0o644)
    isolation = Isolation.detect()
    builder = EnvironmentBuilder(
        root / "envs",
        uv=UV,
        python=default_python(),
        platform_requirements=[],
        find_links=[wheels],
        isolation=isolation,
    )
    log = io.StringIO()
    venv = builder.ensure(f"{PROBE}==0.1\n", log)
    assert "building from source, isolated" in log.getvalue()
    probe = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import probe_mod as p; print(p.UID, p.SECRET_READABLE, p.ENV)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split(" ", 2)
    isolated = isolation.per_app_uid or isolation.sandbox
    assert isolated, "this machine offers isolation (root or bubblewrap): builds must use it"
    if isolation.per_app_uid:
        assert int(probe[0]) == BUILDER_UID
        assert os.stat(venv).st_uid == 0  # handed to root once built
        assert all(p.stat().st_uid == 0 for p in (venv / "lib").rglob("*") if not p.is_symlink())
    assert probe[1] == "False"  # the platform's secret stayed out of reach
    assert "PORTAL_SECRET_KEY" not in probe[2]
    assert not list((root / "envs").glob(".build-cache-*"))  # the private cache is gone
