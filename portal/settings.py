"""One settings object, read from the environment.

Every knob of the portal lives here with its development default, so a newcomer's
`make up` needs no configuration and a deployment changes only environment variables.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from portal.hosting.layout import PlatformLayout

# Importing portal.settings imports the portal package, which imports Flask anyway.

__all__ = ["Settings", "SettingsError", "parse_flag", "setting"]

ROOT = Path(__file__).resolve().parent.parent


def parse_flag(value: str, *, allow_auto: bool = False) -> bool | None:
    """The one reading of a yes/no variable: ``1 true yes on`` or ``0 false no off``
    (any case); with ``allow_auto``, ``auto`` is None (decided from other settings)."""
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    if allow_auto and word == "auto":
        return None
    choices = "1, 0 or auto" if allow_auto else "1 or 0"
    raise ValueError(f"expected {choices}, got {value!r}")


def _without_password(value: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db`` (also
    ``redis://:secret@host``, with no user name)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", value)


def _secret_key(path: Path) -> str:
    """A dev secret kept in the data directory, so every worker and restart shares it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


#: How a variable's text becomes a field's value, by the field's declared type.
_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": parse_flag,
    "bool | None": functools.partial(parse_flag, allow_auto=True),
    "Path": Path,
    "Path | None": Path,
    "tuple[str, ...]": _names,
}


def setting(variable: str, default: Any, *, secret: bool = False) -> Any:
    """A settings field read from the environment variable ``variable``; an unset or
    empty variable leaves ``default``. ``secret`` keeps it out of :meth:`Settings.public`."""
    return field(default=default, metadata={"env": variable, "secret": secret})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Configuration of one portal process: each field names its variable and default."""

    #: Where the browser reaches Keycloak; it is also the issuer's base.
    keycloak_url: str = setting("KEYCLOAK_URL", "http://127.0.0.1:8080")
    #: Where the portal reaches Keycloak (differs under docker compose); empty: keycloak_url.
    keycloak_internal_url: str = setting("KEYCLOAK_INTERNAL_URL", "")
    realm: str = setting("KEYCLOAK_REALM", "dash")
    client_id: str = setting("KEYCLOAK_CLIENT_ID", "dash")
    client_secret: str = setting("KEYCLOAK_CLIENT_SECRET", "dash-dev-secret", secret=True)
    admin_client_id: str = setting("KEYCLOAK_ADMIN_CLIENT_ID", "dash-admin")
    admin_client_secret: str = setting(
        "KEYCLOAK_ADMIN_CLIENT_SECRET", "dash-admin-dev-secret", secret=True
    )
    #: Audience an access token must carry to be accepted on /api.
    audience: str = setting("PORTAL_AUDIENCE", "dash")
    data_dir: Path = setting("PORTAL_DATA_DIR", ROOT / "var")
    #: Empty: SQLite in data_dir.
    database_url: str = setting("DATABASE_URL", "")
    #: "sqlalchemy" (the platform database) or "redis".
    session_backend: str = setting("PORTAL_SESSION_BACKEND", "sqlalchemy")
    redis_url: str = setting("REDIS_URL", "")
    #: Empty: a random key kept in data_dir.
    secret_key: str = setting("PORTAL_SECRET_KEY", "", secret=True)
    session_lifetime_seconds: int = setting("PORTAL_SESSION_LIFETIME", 12 * 3600)
    #: Delete expired sessions and sign-in records this often (0: never; portal.auth.purge).
    purge_interval_seconds: int = setting("PORTAL_PURGE_INTERVAL", 600)
    #: Refresh the access token this many seconds before it expires.
    refresh_leeway_seconds: int = setting("PORTAL_REFRESH_LEEWAY", 10)
    #: Read Keycloak's admin events this often, to revoke disabled or signed-out users
    #: (portal.auth.revocation); 0 turns the watcher off.
    revocation_poll_seconds: float = setting("PORTAL_REVOCATION_POLL", 5.0)
    #: Clients whose service account may use the API as a user (CI deployments). Any
    #: other service account's token is refused: it is not a person. Comma-separated.
    service_account_clients: tuple[str, ...] = setting(
        "PORTAL_SERVICE_ACCOUNT_CLIENTS", ("dash-deploy",)
    )
    license_seats: int = setting("PORTAL_LICENSE_SEATS", 10)
    #: Register the contract's demo apps at start (``flask platform start``).
    seed_apps: bool = setting("PORTAL_SEED_APPS", True)
    #: Where deployed apps live: bundles, environments, sockets, logs (docs/hosting.md).
    #: Unset: <data_dir>/apps, whichever data_dir turns out to be (see resolved()).
    apps_dir: Path | None = setting("PORTAL_APPS_DIR", None)
    #: The address people reach the front door at. Sign-in's redirect_uri and every other
    #: absolute URL of the portal are built from it, never from the request's Host; the
    #: portal reads no X-Forwarded-* header.
    public_url: str = setting("PORTAL_PUBLIC_URL", "http://127.0.0.1:8050")
    #: Where the apps reach the front door (their DASH_PLATFORM_URL); empty: public_url.
    internal_url: str = setting("PORTAL_INTERNAL_URL", "")
    #: Run apps in a bubblewrap sandbox when bubblewrap works here.
    app_sandbox: bool = setting("PORTAL_APP_SANDBOX", True)
    #: The group nginx's workers run as, which may enter app socket directories (root only).
    frontdoor_group: str = setting("PORTAL_FRONTDOOR_GROUP", "nogroup")
    #: The name /healthz answers for this portal process, so a client behind the front door
    #: sees which replica served it (the local mode sets one per program). Empty: the
    #: host's name, which is the container or pod when each runs one portal.
    replica: str = setting("PORTAL_REPLICA", "")
    #: nginx's pid file, so the portal can have it re-read the app routes (local mode).
    frontdoor_pid: Path | None = setting("PORTAL_FRONTDOOR_PID", None)
    #: Mark cookies Secure; set when the portal is served over https.
    secure_cookies: bool = setting("PORTAL_SECURE_COOKIES", False)
    #: Keep sessions (SQL store) and app records in each process's memory, checked per
    #: request against change counters that every write advances (portal.change_counters):
    #: with SQLite, counter files in ``data_dir`` shared by the processes of this host;
    #: with PostgreSQL, counters advanced by its NOTIFY, right for processes on any hosts.
    #: "auto" turns it on with SQLite and PostgreSQL, off with another server database,
    #: where 1 says every portal process runs on this host (the files then suffice).
    host_cache: bool | None = setting("PORTAL_HOST_CACHE", None)

    @property
    def issuer(self) -> str:
        return f"{self.keycloak_url.rstrip('/')}/realms/{self.realm}"

    @property
    def internal_issuer(self) -> str:
        base = self.keycloak_internal_url or self.keycloak_url
        return f"{base.rstrip('/')}/realms/{self.realm}"

    @property
    def layout(self) -> PlatformLayout:
        """Where the platform keeps its files (an unset apps_dir: <data_dir>/apps)."""
        return PlatformLayout.of(Path(self.data_dir), self.apps_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Each field from its variable (see :func:`setting`); ``overrides`` win (tests)."""
        return cls.read_env(environ, **overrides).resolved()

    @classmethod
    def read_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """:meth:`from_env` before :meth:`resolved`: no default filled, no file touched
        (docker/container.py reads the layout this way)."""
        environ = os.environ if environ is None else environ
        types = get_type_hints(cls)
        values: dict[str, Any] = {}
        for spec in fields(cls):
            text = environ.get(spec.metadata["env"], "")
            if text == "" or spec.name in overrides:
                continue
            parse = _PARSERS[_type_name(types[spec.name])]
            try:
                values[spec.name] = parse(text)
            except ValueError as error:
                raise SettingsError(f"{spec.metadata['env']}: {error}") from None
        return cls(**values, **overrides)

    def resolved(self) -> Settings:
        """Fill the defaults that depend on other settings (database, secret key)."""
        layout = PlatformLayout.of(Path(self.data_dir).resolve(), self.apps_dir)
        changes: dict[str, Any] = {"data_dir": layout.data_dir}
        changes["apps_dir"] = layout.apps_dir.resolve()
        if not self.database_url:
            changes["database_url"] = f"sqlite:///{layout.database}"
        if not self.secret_key:
            changes["secret_key"] = _secret_key(layout.secret_key)
        if self.host_cache is None:
            database_url = changes.get("database_url", self.database_url)
            changes["host_cache"] = database_url.startswith(("sqlite", "postgresql"))
        return replace(self, **changes)

    def public(self) -> dict[str, Any]:
        """Settings safe to show (no secrets, no passwords in URLs), for logs and the Admin."""
        return {
            f.name: _without_password(str(getattr(self, f.name)))
            for f in fields(self)
            if not f.metadata["secret"]
        }


class SettingsError(ValueError):
    """A variable whose text does not fit its setting (the message names the variable)."""


def _type_name(annotation: Any) -> str:
    """``Path | None`` → "Path | None": the key of :data:`_PARSERS`."""
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("pathlib.", "").replace("NoneType", "None")
