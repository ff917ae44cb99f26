"""Run Keycloak locally without Docker: fetch the distribution, start, wait, stop.

`make up` uses this as a command line and the test suite imports it, so both run Keycloak
the same way. The parts: :mod:`kcctl.distribution` (the pinned version, fetched from Maven
Central and cached), :mod:`kcctl.realm` (the realm to import, patched for a test portal),
:mod:`kcctl.checks`, :mod:`kcctl.home`, :mod:`kcctl.instance`, :mod:`kcctl.process` and
:mod:`kcctl.readiness` (one Keycloak process: its home, start, readiness and stop),
:mod:`kcctl.cluster` (several nodes on PostgreSQL, clustered through the database) and
:mod:`kcctl.cli` (the command line).

Stdlib only, Python 3.11+.

Command line::

    python -m kcctl fetch
    python -m kcctl up [--http-port 8080] [--management-port 9000] [--instance-dir DIR]
                       [--timeout 300]
    python -m kcctl down [--instance-dir DIR]
    python -m kcctl status [--instance-dir DIR]
    python -m kcctl logs [--instance-dir DIR] [--lines 80]
"""

from __future__ import annotations

from kcctl.checks import find_java, preflight
from kcctl.cli import main, up_command
from kcctl.cluster import (
    Cluster,
    Database,
    Node,
    cluster_members,
    free_jgroups_ports,
    node_settings,
    prepare_node,
    start_cluster,
    stop_cluster,
)
from kcctl.distribution import REPO, cache_root, distribution_dir, ensure_distribution, read_version
from kcctl.errors import (
    ConfigError,
    DistributionError,
    JavaMissingError,
    KeycloakError,
    MavenMissingError,
    PortInUseError,
    ReadyTimeoutError,
    StartError,
)
from kcctl.instance import (
    BOOTSTRAP_ADMIN,
    DEFAULT_INSTANCE_DIR,
    LOG_FILE,
    Instance,
    Launch,
    prepare,
    remember,
    start,
)
from kcctl.process import is_running, rss_bytes, stop
from kcctl.readiness import is_ready, log_tail, wait_ready
from kcctl.realm import REALM_FILE, load_realm, patch_realm

__all__ = [
    "BOOTSTRAP_ADMIN",
    "DEFAULT_INSTANCE_DIR",
    "LOG_FILE",
    "REALM_FILE",
    "REPO",
    "Cluster",
    "ConfigError",
    "Database",
    "DistributionError",
    "Instance",
    "JavaMissingError",
    "KeycloakError",
    "Launch",
    "MavenMissingError",
    "Node",
    "PortInUseError",
    "ReadyTimeoutError",
    "StartError",
    "cache_root",
    "cluster_members",
    "distribution_dir",
    "ensure_distribution",
    "find_java",
    "free_jgroups_ports",
    "is_ready",
    "is_running",
    "load_realm",
    "log_tail",
    "main",
    "node_settings",
    "patch_realm",
    "preflight",
    "prepare",
    "prepare_node",
    "read_version",
    "remember",
    "rss_bytes",
    "start",
    "start_cluster",
    "stop",
    "stop_cluster",
    "up_command",
    "wait_ready",
]
