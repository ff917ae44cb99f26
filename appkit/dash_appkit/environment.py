"""What the platform tells an app through its environment, read in one place.

The platform starts every app with the ``DASH_*`` variables below (docs/hosting.md).
An app's own settings live in its own namespace (``SALES_*`` for the sales app) and are
read by its own settings object, never by this library.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

__all__ = ["DEFAULT_ENTRYPOINT", "AppEnvironment"]

#: The app object the platform serves when the owner names none.
DEFAULT_ENTRYPOINT = "app:app"


def _variable(name: str, default: str = "") -> str:
    return field(default=default, metadata={"env": name})


@dataclass(frozen=True, kw_only=True)
class AppEnvironment:
    """The platform's variables of one app process; an unset or blank one is its default."""

    #: ``module:attribute`` of the app object in the bundle.
    entrypoint: str = _variable("DASH_APP_ENTRYPOINT", DEFAULT_ENTRYPOINT)
    #: ``/apps/<slug>/``: where the front door serves the app.
    routes_prefix: str = _variable("DASH_ROUTES_PATHNAME_PREFIX")
    slug: str = _variable("DASH_APP_SLUG")
    #: The app's own writable folder, kept across deployments.
    data_dir: str = _variable("DASH_APP_DATA_DIR")
    #: Where the app reaches the portal (audit events: :mod:`dash_appkit.platform`).
    platform_url: str = _variable("DASH_PLATFORM_URL")
    #: The token naming this app to the portal.
    app_token: str = _variable("DASH_PLATFORM_APP_TOKEN")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppEnvironment:
        """Read the variables now (default: ``os.environ``)."""
        environ = os.environ if environ is None else environ
        values = {}
        for spec in fields(cls):
            value = environ.get(spec.metadata["env"], "").strip()
            if value:
                values[spec.name] = value
        return cls(**values)
