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

__all__ = [
    "BuildError",
    "BundleError",
    "EnvironmentBuilder",
    "build_wheel",
    "check_entrypoint",
    "default_python",
    "normalise_requirements",
    "pack_directory",
    "unpack_bundle",
]
