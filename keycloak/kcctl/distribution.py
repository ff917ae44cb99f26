"""The pinned Keycloak distribution: its version (.env), fetched once with Maven, cached.

The distribution is fetched with Maven (the only registry reachable from many build
machines) and unpacked into a cache outside the work tree, shared by every instance.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import TextIO

from kcctl.errors import ConfigError, DistributionError, MavenMissingError

__all__ = [
    "ARTIFACT",
    "ENV_FILE",
    "REPO",
    "cache_root",
    "distribution_dir",
    "ensure_distribution",
    "read_version",
]

#: The repository this package lives in (keycloak/kcctl/ inside it).
REPO = Path(__file__).resolve().parents[2]
ENV_FILE = REPO / ".env"
ARTIFACT = "org.keycloak:keycloak-quarkus-dist:{version}:tar.gz"


def read_version(env_file: Path = ENV_FILE) -> str:
    """The Keycloak version pinned as KEYCLOAK_VERSION in the repository's .env."""
    try:
        text = Path(env_file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {env_file}: {exc.strerror}") from exc
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip().removeprefix("export ").strip() == "KEYCLOAK_VERSION":
            version = value.split("#", 1)[0].strip().strip("'\"")
            if re.fullmatch(r"\d+\.\d+\.\d+(?:[.-][\w.]+)?", version):
                return version
            raise ConfigError(f"KEYCLOAK_VERSION in {env_file} is not a version: {version!r}")
    raise ConfigError(f"{env_file} does not set KEYCLOAK_VERSION")


def cache_root() -> Path:
    """Where unpacked distributions live (KEYCLOAK_CACHE_DIR, else ~/.cache/...)."""
    override = os.environ.get("KEYCLOAK_CACHE_DIR")
    if override:
        return Path(override).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dash-platform" / "keycloak"


def distribution_dir(version: str | None = None) -> Path:
    """Where the unpacked distribution of ``version`` lives (whether or not it exists yet)."""
    return cache_root() / (version or read_version())


def ensure_distribution(version: str | None = None, *, out: TextIO = sys.stderr) -> Path:
    """The unpacked distribution, fetched with Maven and unpacked on first use."""
    version = version or read_version()
    target = distribution_dir(version)
    # The directory only ever appears by an atomic rename of a complete unpack.
    if (target / "bin" / "kc.sh").exists():
        return target
    if shutil.which("mvn") is None:
        raise MavenMissingError(
            f"Maven (mvn) is not on PATH; it is needed once to fetch Keycloak {version}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"Fetching Keycloak {version} with Maven (first run only)...", file=out, flush=True)
    with tempfile.TemporaryDirectory(prefix=f".{version}-", dir=target.parent) as tmp:
        tmpdir = Path(tmp)
        cmd = [
            "mvn",
            "-q",
            "-B",
            "dependency:copy",
            f"-Dartifact={ARTIFACT.format(version=version)}",
            f"-DoutputDirectory={tmpdir}",
        ]
        try:
            res = subprocess.run(cmd, cwd=tmpdir, capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired as exc:
            raise DistributionError("Maven did not finish fetching Keycloak in 30 min") from exc
        tarballs = list(tmpdir.glob("keycloak-quarkus-dist-*.tar.gz"))
        if res.returncode != 0 or not tarballs:
            tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
            raise DistributionError(f"Maven could not fetch Keycloak {version}:\n{tail}")
        print(f"Unpacking into {target} ...", file=out, flush=True)
        unpack = tmpdir / "unpack"
        try:
            with tarfile.open(tarballs[0]) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(unpack, filter="data")
                else:  # pragma: no cover - Python < 3.11.4
                    tar.extractall(unpack)  # noqa: S202 - archive from Maven Central
        except (OSError, tarfile.TarError) as exc:
            raise DistributionError(f"cannot unpack {tarballs[0].name}: {exc}") from exc
        roots = [p for p in unpack.iterdir() if (p / "bin" / "kc.sh").exists()]
        if len(roots) != 1:
            raise DistributionError(f"{tarballs[0].name} does not look like Keycloak")
        try:
            roots[0].rename(target)
        except OSError:
            # Another process won the race; its copy is complete by construction.
            if not (target / "bin" / "kc.sh").exists():
                raise
    return target
