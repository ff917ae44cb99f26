"""Before a start: a recent enough Java, Maven when nothing is cached, two free ports."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

from kcctl.distribution import ARTIFACT, distribution_dir, read_version
from kcctl.errors import ConfigError, JavaMissingError, MavenMissingError, PortInUseError

__all__ = ["MIN_JAVA", "find_java", "port_free", "preflight"]

MIN_JAVA = 17


def find_java() -> tuple[Path, int]:
    """The java Keycloak will run on ($JAVA_HOME first, then PATH) and its major version."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is None or not candidate.exists():
        found = shutil.which("java")
        if found is None:
            where = f" (JAVA_HOME={java_home} has no bin/java)" if java_home else ""
            raise JavaMissingError(
                f"no Java found{where}; Keycloak needs Java {MIN_JAVA}+ "
                "(e.g. `apt-get install openjdk-17-jre-headless`)"
            )
        candidate = Path(found)
    try:
        out = subprocess.run(
            [str(candidate), "-version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaMissingError(f"cannot run {candidate} -version: {exc}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise JavaMissingError(f"cannot tell the version of {candidate}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" means Java 8
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise JavaMissingError(
            f"Keycloak needs Java {MIN_JAVA}+, but {candidate} is Java {major}; "
            f"install a JDK {MIN_JAVA}+ and set JAVA_HOME to it"
        )
    return candidate, major


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: a socket lingering in TIME_WAIT is no obstacle, a listener is.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def preflight(
    http_port: int = 8080, management_port: int = 9000, *, need_maven: bool | None = None
) -> Path:
    """Check Java, Maven (only if the distribution is not cached yet) and the two ports.

    Returns the java to use; raises a KeycloakError subclass naming what is missing.
    """
    if http_port == management_port:
        raise ConfigError(f"HTTP and management port must differ (both {http_port})")
    java, _major = find_java()
    if need_maven is None:
        need_maven = not distribution_dir().exists()
    if need_maven and shutil.which("mvn") is None:
        raise MavenMissingError(
            "Maven (mvn) is not on PATH; it is needed once to fetch "
            f"{ARTIFACT.format(version=read_version())} from Maven Central "
            "(e.g. `apt-get install maven`)"
        )
    for port, what in ((http_port, "Keycloak HTTP"), (management_port, "Keycloak management")):
        if not port_free(port):
            raise PortInUseError(port, what)
    return java
