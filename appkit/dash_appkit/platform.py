"""Talking back to the platform: audit events an app wants in the platform's audit log.

The platform starts every app with ``DASH_PLATFORM_URL`` (where the portal answers) and
``DASH_PLATFORM_APP_TOKEN`` (a token naming this app). Only the standard library is used,
so the client adds nothing to an app's environment.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from dash_appkit.environment import AppEnvironment

__all__ = ["EVENTS_PATH", "TOKEN_HEADER", "PlatformError", "record_event"]

#: Where, under ``DASH_PLATFORM_URL``, the portal takes an app's audit events.
EVENTS_PATH = "/api/app-events"
#: The header that carries ``DASH_PLATFORM_APP_TOKEN``.
TOKEN_HEADER = "X-Platform-App-Token"  # noqa: S105 (a header name)
TIMEOUT_S = 5.0


class PlatformError(RuntimeError):
    """The platform could not be reached, or did not accept what was sent."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: urllib would turn the POST into a GET and could report success."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        return None


# No proxy: the portal is the app's own platform, never something to reach through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def _endpoint() -> tuple[str, str]:
    environment = AppEnvironment.from_env()
    base, token = environment.platform_url, environment.app_token
    if not base or not token:
        raise PlatformError(
            "DASH_PLATFORM_URL and DASH_PLATFORM_APP_TOKEN must be set "
            "(the platform sets them; a local run has no platform to record to)"
        )
    if not base.startswith(("http://", "https://")):
        raise PlatformError(f"DASH_PLATFORM_URL must be an http(s) URL, not {base!r}")
    return base.rstrip("/") + EVENTS_PATH, token


def record_event(action: str, target: str, *, actor: str, detail: dict[str, Any]) -> None:
    """Record ``actor`` doing ``action`` on ``target`` in the platform's audit log.

    Raises :class:`PlatformError` unless the platform answered 2xx, so a caller that must
    not act unaudited (an admin's "view as") can refuse.
    """
    url, token = _endpoint()
    body = json.dumps(
        {"actor": actor, "action": action, "target": target, "detail": detail}
    ).encode()
    req = urllib.request.Request(  # noqa: S310 (the scheme is checked in _endpoint)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", TOKEN_HEADER: token},
    )
    try:
        with _OPENER.open(req, timeout=TIMEOUT_S) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise PlatformError(f"the platform refused the event: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PlatformError(f"the platform could not be reached: {exc}") from exc
    if not 200 <= status < 300:
        raise PlatformError(f"the platform did not accept the event: HTTP {status}")
