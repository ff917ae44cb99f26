"""The framework-free core of app hosting: bundles, builds, isolation, supervision, running.

Nothing here imports Flask; the portal's API and pages drive these pieces. See
docs/hosting.md for the design.
"""

from portal.hosting.bundles import BundleError, check_entrypoint, pack_directory, unpack_bundle

__all__ = ["BundleError", "check_entrypoint", "pack_directory", "unpack_bundle"]
