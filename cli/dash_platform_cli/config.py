"""Where the platform and Keycloak are, and how to authenticate, from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import CliError

__all__ = ["DEFAULT_KEYCLOAK_URL", "DEFAULT_PLATFORM_URL", "DEFAULT_REALM", "Config", "config_dir"]

DEFAULT_PLATFORM_URL = "http://127.0.0.1:8050"
DEFAULT_KEYCLOAK_URL = "http://127.0.0.1:8080"
DEFAULT_REALM = "dash"
#: The realm's public client for people at a terminal (device authorization grant).
CLI_CLIENT_ID = "dash-cli"


def config_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_CONFIG_HOME/dash-platform``, else ``~/.config/dash-platform``."""
    base = env.get("XDG_CONFIG_HOME", "").strip()
    if base and Path(base).is_absolute():
        return Path(base) / "dash-platform"
    home = env.get("HOME", "").strip()
    return (Path(home) if home else Path.home()) / ".config" / "dash-platform"


@dataclass(frozen=True)
class Config:
    """Everything a command needs to know before it talks to anyone."""

    url: str = DEFAULT_PLATFORM_URL
    keycloak_url: str = DEFAULT_KEYCLOAK_URL
    realm: str = DEFAULT_REALM
    #: A bearer token used as is (``DASH_PLATFORM_TOKEN``).
    token: str | None = None
    #: A confidential client for CI (client credentials grant).
    client_id: str | None = None
    client_secret: str | None = None
    config_dir: Path = Path(".")

    @property
    def issuer(self) -> str:
        return f"{self.keycloak_url}/realms/{self.realm}"

    @property
    def token_file(self) -> Path:
        return self.config_dir / "tokens.json"

    @property
    def auth_mode(self) -> str:
        """``token``, ``client`` (client credentials) or ``login`` (cached device login)."""
        if self.token:
            return "token"
        if self.client_id:
            return "client"
        return "login"

    def app_url(self, slug: str) -> str:
        return f"{self.url}/apps/{slug}/"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read ``DASH_PLATFORM_*`` (and ``XDG_CONFIG_HOME``) from ``env`` (os.environ)."""
        env = os.environ if env is None else env
        client_id = _get(env, "DASH_PLATFORM_CLIENT_ID")
        client_secret = _get(env, "DASH_PLATFORM_CLIENT_SECRET")
        if bool(client_id) != bool(client_secret):
            raise CliError(
                "set both DASH_PLATFORM_CLIENT_ID and DASH_PLATFORM_CLIENT_SECRET, or neither"
            )
        return cls(
            url=_base_url(env, "DASH_PLATFORM_URL", DEFAULT_PLATFORM_URL),
            keycloak_url=_base_url(env, "DASH_PLATFORM_KEYCLOAK_URL", DEFAULT_KEYCLOAK_URL),
            realm=_get(env, "DASH_PLATFORM_REALM") or DEFAULT_REALM,
            token=_get(env, "DASH_PLATFORM_TOKEN"),
            client_id=client_id,
            client_secret=client_secret,
            config_dir=config_dir(env),
        )


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _base_url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (_get(env, name) or default).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise CliError(f"{name} must be an http:// or https:// URL, not {value!r}")
    return value
