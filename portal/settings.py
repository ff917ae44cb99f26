"""One settings object, read from the environment.

Every knob of the portal lives here with its development default, so a newcomer's
`make up` needs no configuration and a deployment changes only environment variables.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

# Importing portal.settings imports the portal package, which imports Flask anyway.
from portal.services import services

__all__ = ["Settings", "current_settings"]

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _optional_path(name: str) -> Path | None:
    value = _env(name, "")
    return Path(value) if value else None


def _without_password(value: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db`` (also
    ``redis://:secret@host``, with no user name)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", value)


def _secret_key(data_dir: Path) -> str:
    """A dev secret kept in the data directory, so every worker and restart shares it."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()


def _flag(value: str) -> bool | None:
    """``1``/``true``/``yes``, ``0``/``false``/``no``, or ``auto`` (None: decide later)."""
    value = value.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    if value == "auto":
        return None
    raise ValueError(f"expected 1, 0 or auto, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Configuration of one portal process."""

    #: Where the browser reaches Keycloak; it is also the issuer's base.
    keycloak_url: str = "http://127.0.0.1:8080"
    #: Where the portal reaches Keycloak (differs under docker compose).
    keycloak_internal_url: str = ""
    realm: str = "dash"
    client_id: str = "dash"
    client_secret: str = "dash-dev-secret"  # noqa: S105 - documented dev default
    admin_client_id: str = "dash-admin"
    admin_client_secret: str = "dash-admin-dev-secret"  # noqa: S105 - documented dev default
    #: Audience an access token must carry to be accepted on /api.
    audience: str = "dash"
    data_dir: Path = ROOT / "var"
    database_url: str = ""
    #: "sqlalchemy" (the platform database) or "redis".
    session_backend: str = "sqlalchemy"
    redis_url: str = ""
    secret_key: str = ""
    session_lifetime_seconds: int = 12 * 3600
    #: Delete expired sessions and sign-in records this often (0: never; portal.auth.purge).
    purge_interval_seconds: int = 600
    #: Refresh the access token this many seconds before it expires.
    refresh_leeway_seconds: int = 10
    #: Read Keycloak's admin events this often, to revoke disabled or signed-out users
    #: (portal.auth.revocation); 0 turns the watcher off.
    revocation_poll_seconds: float = 5.0
    #: Clients whose service account may use the API as a user (CI deployments). Any
    #: other service account's token is refused: it is not a person.
    service_account_clients: tuple[str, ...] = ("dash-deploy",)
    license_seats: int = 10
    sales_rows: int = 1_000_000
    seed_apps: bool = True
    #: Where deployed apps live: bundles, environments, sockets, logs (docs/hosting.md).
    apps_dir: Path | None = None
    #: The address people reach the front door at. Sign-in's redirect_uri and every other
    #: absolute URL of the portal are built from it, never from the request's Host; the
    #: portal reads no X-Forwarded-* header.
    public_url: str = "http://127.0.0.1:8050"
    #: Where the apps reach the front door (their DASH_PLATFORM_URL); empty: public_url.
    internal_url: str = ""
    #: Run apps in a bubblewrap sandbox when bubblewrap works here.
    app_sandbox: bool = True
    #: The group nginx's workers run as, which may enter app socket directories (root only).
    frontdoor_group: str = "nogroup"
    #: nginx's pid file, so the portal can have it re-read the app routes (local mode).
    frontdoor_pid: Path | None = None
    #: Mark cookies Secure; set when the portal is served over https.
    secure_cookies: bool = False
    #: Keep sessions and app records in each worker's memory, checked per request against
    #: counters in ``data_dir``. Right only when every portal process runs on this host:
    #: on by default with SQLite (one host by construction), off with a server database.
    host_cache: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"{self.keycloak_url.rstrip('/')}/realms/{self.realm}"

    @property
    def internal_issuer(self) -> str:
        base = self.keycloak_internal_url or self.keycloak_url
        return f"{base.rstrip('/')}/realms/{self.realm}"

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read ``PORTAL_*`` / well-known variables; ``overrides`` win (tests use them)."""
        data_dir = Path(_env("PORTAL_DATA_DIR", str(ROOT / "var"))).resolve()
        values: dict[str, Any] = {
            "keycloak_url": _env("KEYCLOAK_URL", cls.keycloak_url),
            "keycloak_internal_url": _env("KEYCLOAK_INTERNAL_URL", ""),
            "realm": _env("KEYCLOAK_REALM", cls.realm),
            "client_id": _env("KEYCLOAK_CLIENT_ID", cls.client_id),
            "client_secret": _env("KEYCLOAK_CLIENT_SECRET", cls.client_secret),
            "admin_client_id": _env("KEYCLOAK_ADMIN_CLIENT_ID", cls.admin_client_id),
            "admin_client_secret": _env("KEYCLOAK_ADMIN_CLIENT_SECRET", cls.admin_client_secret),
            "audience": _env("PORTAL_AUDIENCE", cls.audience),
            "data_dir": data_dir,
            "database_url": _env("DATABASE_URL", ""),
            "session_backend": _env("PORTAL_SESSION_BACKEND", cls.session_backend),
            "redis_url": _env("REDIS_URL", ""),
            "secret_key": _env("PORTAL_SECRET_KEY", ""),
            "session_lifetime_seconds": int(_env("PORTAL_SESSION_LIFETIME", "43200")),
            "purge_interval_seconds": int(_env("PORTAL_PURGE_INTERVAL", "600")),
            "refresh_leeway_seconds": int(_env("PORTAL_REFRESH_LEEWAY", "10")),
            "revocation_poll_seconds": float(_env("PORTAL_REVOCATION_POLL", "5")),
            "service_account_clients": tuple(
                c.strip()
                for c in _env("PORTAL_SERVICE_ACCOUNT_CLIENTS", "dash-deploy").split(",")
                if c.strip()
            ),
            "license_seats": int(_env("PORTAL_LICENSE_SEATS", "10")),
            "sales_rows": int(_env("SALES_ROWS", "1000000")),
            "seed_apps": _env("PORTAL_SEED_APPS", "1") not in ("0", "false", "no"),
            # Unset: below the data folder, whichever it turns out to be (see resolved()).
            "apps_dir": _optional_path("PORTAL_APPS_DIR"),
            "public_url": _env("PORTAL_PUBLIC_URL", cls.public_url),
            "internal_url": _env("PORTAL_INTERNAL_URL", ""),
            "app_sandbox": _env("PORTAL_APP_SANDBOX", "1") not in ("0", "false", "no"),
            "frontdoor_group": _env("PORTAL_FRONTDOOR_GROUP", cls.frontdoor_group),
            "frontdoor_pid": Path(_env("PORTAL_FRONTDOOR_PID", ""))
            if _env("PORTAL_FRONTDOOR_PID", "")
            else None,
            "secure_cookies": _env("PORTAL_SECURE_COOKIES", "0") in ("1", "true", "yes"),
            "host_cache": _flag(_env("PORTAL_HOST_CACHE", "auto")),
        }
        values.update(overrides)
        settings = cls(**values)
        return settings.resolved()

    def resolved(self) -> Settings:
        """Fill the defaults that depend on other settings (database, secret key)."""
        data_dir = Path(self.data_dir).resolve()
        changes: dict[str, Any] = {"data_dir": data_dir}
        changes["apps_dir"] = Path(self.apps_dir or data_dir / "apps").resolve()
        if not self.database_url:
            changes["database_url"] = f"sqlite:///{data_dir / 'portal.db'}"
        if not self.secret_key:
            changes["secret_key"] = _secret_key(data_dir)
        if self.host_cache is None:
            database_url = changes.get("database_url", self.database_url)
            changes["host_cache"] = database_url.startswith("sqlite")
        return replace(self, **changes)

    def public(self) -> dict[str, Any]:
        """Settings safe to show (no secrets, no passwords in URLs), for logs and the Admin."""
        hidden = {"client_secret", "admin_client_secret", "secret_key", "extra"}
        return {
            f.name: _without_password(str(getattr(self, f.name)))
            for f in fields(self)
            if f.name not in hidden
        }


def current_settings() -> Settings:
    """The settings of the app handling the current request (or app context)."""
    return services().settings
