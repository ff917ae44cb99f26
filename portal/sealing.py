"""Secrets at rest, sealed under keys derived from the platform's secret key.

Fernet (AES-CBC with an HMAC) under a key derived with HKDF from ``Settings.secret_key``,
one key per purpose (the HKDF ``info``), so a copy of the database alone reveals nothing,
and a value sealed for one purpose cannot be passed off as another. Used for apps'
environment variables, the tokens in server-side sessions, and the short-lived secrets
of a sign-in in progress.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.services import services

__all__ = ["APP_ENV", "PENDING_SIGN_IN", "SESSION_TOKENS", "seal", "unseal"]

#: Purposes (HKDF ``info``). Changing one makes everything sealed under it unreadable.
APP_ENV = b"dash-platform app env"
SESSION_TOKENS = b"dash-platform session tokens"
PENDING_SIGN_IN = b"dash-platform pending sign-in"


@functools.lru_cache(maxsize=16)
def _fernet(secret_key: str, purpose: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(purpose: bytes, value: str) -> str:
    """``value`` encrypted and authenticated for ``purpose`` (needs an app context)."""
    return _fernet(services().settings.secret_key, purpose).encrypt(value.encode()).decode()


def unseal(purpose: bytes, sealed: str, *, max_age: int | None = None) -> str | None:
    """The value ``seal`` was given, or None: tampered, sealed under another secret key or
    for another purpose, not sealed at all, or older than ``max_age`` seconds."""
    try:
        value = _fernet(services().settings.secret_key, purpose).decrypt(sealed, ttl=max_age)
    except (InvalidToken, TypeError, ValueError):
        return None
    return value.decode()
