"""The framework-free core of app hosting: bundles, builds, isolation, supervision, running.

Nothing here imports Flask; the portal's API and pages drive these pieces. See
docs/hosting.md for the design.
"""

from portal.hosting.builds import (
    BuildError,
    EnvironmentBuilder,
    build_wheel,
    default_python,
    normalise_requirements,
)
from portal.hosting.bundles import BundleError, check_entrypoint, pack_directory, unpack_bundle
from portal.hosting.isolation import Isolation, app_uid, prepare_paths, wrap
from portal.hosting.runner import LocalRunner, ProcessSpec, Runner, StartError
from portal.hosting.supervisor import ProgramState, Supervisor, SupervisorError

__all__ = [
    "BuildError",
    "BundleError",
    "EnvironmentBuilder",
    "Isolation",
    "LocalRunner",
    "ProcessSpec",
    "ProgramState",
    "Runner",
    "StartError",
    "Supervisor",
    "SupervisorError",
    "app_uid",
    "build_wheel",
    "check_entrypoint",
    "default_python",
    "normalise_requirements",
    "pack_directory",
    "prepare_paths",
    "unpack_bundle",
    "wrap",
]
