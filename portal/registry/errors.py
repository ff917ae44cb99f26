"""Why the registry refuses a change, as domain errors that know nothing of HTTP.

The registry raises these; the web layer (``portal.errors``) turns each kind into its
status code, and the pages show the message. ``extra`` carries details the caller may
show too (the ``field`` a bad value was given for, the ``reason`` of a conflict).
"""

from __future__ import annotations

__all__ = ["Conflict", "Forbidden", "Invalid", "Malformed", "NotFound", "RegistryError"]


class RegistryError(Exception):
    """A registry operation refused, with a message safe to show to the caller."""

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class Malformed(RegistryError):
    """The request has the wrong shape: not an object, or fields that do not exist."""


class NotFound(RegistryError):
    """No such app."""


class Forbidden(RegistryError):
    """The actor's roles and relations to the app do not allow it (``roles.can``)."""


class Conflict(RegistryError):
    """The registry's state does not allow it: a slug taken, a new owner without a seat."""


class Invalid(RegistryError):
    """A value of the wrong type or out of range; ``extra["field"]`` names the field."""
