"""An instance's home: the shared, read-only distribution plus private writable parts.

Each instance gets its own small "home": symlinks to the cached, read-only parts of the
distribution plus private copies of what Keycloak writes (``lib/quarkus``, rewritten by the
build step of dev mode, and ``data/``, which holds the H2 database and the realm to
import). That way a test instance and the `make up` instance run side by side from one
cached distribution. A saved dev-mode build is kept per set of build options (the default
ones, or a cluster node's PostgreSQL and distributed caches).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

__all__ = ["BUILD_FILE", "dev_build_dir", "prepare_home", "remember_dev_build"]


#: Names the build options of a home's dev-mode build ("" for the default ones).
BUILD_FILE = ".build"


def prepare_home(instance_dir: Path, dist: Path, build: str = "") -> Path:
    """Build the instance home: symlinks to the shared distribution, private writable parts.

    ``build`` names the instance's build options (e.g. ``postgres-ispn``): a fresh home
    starts from the dev-mode build saved for them, as Keycloak would rebuild any other.
    """
    home = instance_dir / "home"
    marker = home / ".distribution"
    if marker.exists() and marker.read_text() == str(dist):
        (home / BUILD_FILE).write_text(build)
        return home
    # New instance or another version: rebuild everything but data/ (Keycloak migrates it).
    for name in ("bin", "lib", "conf", "themes", "providers", "version.txt"):
        path = home / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    (home / "bin").mkdir(parents=True)
    # kc.sh finds its home with `readlink -f $0`: a copy (not a symlink) makes that this home.
    shutil.copy2(dist / "bin" / "kc.sh", home / "bin" / "kc.sh")
    for name in ("conf", "themes", "providers", "version.txt"):
        if (dist / name).exists():
            (home / name).symlink_to(dist / name)
    lib = home / "lib"
    lib.mkdir()
    for name in ("lib", "app"):
        (lib / name).symlink_to(dist / "lib" / name)
    # Quarkus resolves lib/quarkus next to the jar it runs from, and start-dev's build step
    # rewrites lib/quarkus: both are private so instances never write to the shared copy.
    # Starting from a saved dev-mode build skips that build step (~15 s) on fresh instances.
    shutil.copy2(dist / "lib" / "quarkus-run.jar", lib / "quarkus-run.jar")
    template = dev_build_dir(dist, build)
    source = dist / "lib" / "quarkus"
    if (template / "quarkus-application.dat").exists():
        source = template
    shutil.copytree(source, lib / "quarkus")
    (home / "data").mkdir(exist_ok=True)
    (home / BUILD_FILE).write_text(build)
    marker.write_text(str(dist))
    return home


def dev_build_dir(dist: Path, build: str = "") -> Path:
    """Where the dev-mode build of ``dist`` with the build options ``build`` is saved."""
    return dist.parent / (f"{dist.name}.dev-build-{build}" if build else f"{dist.name}.dev-build")


def remember_dev_build(home: Path) -> None:
    """Save a ready instance's dev-mode build next to the distribution, once."""
    try:
        dist = Path((home / ".distribution").read_text())
        build = (home / BUILD_FILE).read_text() if (home / BUILD_FILE).exists() else ""
        template = dev_build_dir(dist, build)
        if template.exists():
            return
        with tempfile.TemporaryDirectory(prefix=".dev-build-", dir=dist.parent) as tmp:
            shutil.copytree(home / "lib" / "quarkus", Path(tmp) / "quarkus")
            (Path(tmp) / "quarkus").rename(template)
    except OSError:
        pass  # only an optimisation; another instance may have won the race
