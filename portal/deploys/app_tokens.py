"""The token an app process presents to report events to the platform.

``<slug>.<HMAC-SHA256(secret key, "app-token:" + slug)>``: the platform gives it to the
app's processes in ``DASH_PLATFORM_APP_TOKEN`` and recognises it without storing it. It
names one app and proves only that the caller runs as that app; it carries no user.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["app_token", "slug_of_token"]


def _mac(secret_key: str, slug: str) -> str:
    return hmac.new(secret_key.encode(), f"app-token:{slug}".encode(), hashlib.sha256).hexdigest()


def app_token(secret_key: str, slug: str) -> str:
    """The token of the app ``slug``."""
    return f"{slug}.{_mac(secret_key, slug)}"


def slug_of_token(secret_key: str, token: str) -> str | None:
    """The app a token names, or ``None`` when it is not a token this platform issued."""
    slug, _, mac = token.partition(".")
    if not slug or not mac:
        return None
    return slug if hmac.compare_digest(mac, _mac(secret_key, slug)) else None
