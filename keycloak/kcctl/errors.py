"""Typed errors of kcctl: each names what stops Keycloak from running, for a human."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DistributionError",
    "JavaMissingError",
    "KeycloakError",
    "MavenMissingError",
    "PortInUseError",
    "ReadyTimeoutError",
    "StartError",
]


class KeycloakError(Exception):
    """Anything that stops Keycloak from running; the message is meant for a human."""


class ConfigError(KeycloakError):
    """The repository's configuration (.env, realm file) is missing or unreadable."""


class JavaMissingError(KeycloakError):
    """No Java, or a Java older than Keycloak needs."""


class MavenMissingError(KeycloakError):
    """Maven is needed to fetch the distribution and is not installed."""


class PortInUseError(KeycloakError):
    """A port Keycloak needs is taken by another process."""

    def __init__(self, port: int, what: str) -> None:
        self.port = port
        super().__init__(
            f"port {port} ({what}) is already in use on 127.0.0.1; stop whatever listens "
            f"there (e.g. `ss -ltnp 'sport = :{port}'`) or choose another port"
        )


class DistributionError(KeycloakError):
    """Fetching or unpacking the Keycloak distribution failed."""


class StartError(KeycloakError):
    """Keycloak could not be started, died while starting or failed to import the realm."""


class ReadyTimeoutError(KeycloakError):
    """Keycloak is still running but did not become ready in time."""
