"""Calls to the platform's API, with the bearer token and one-line errors."""

from __future__ import annotations

from typing import Any

import requests

from .auth import TokenSource
from .config import Config
from .errors import EXIT_UNREACHABLE, CliError, error_for_response

__all__ = ["Api"]

TIMEOUT = 60


class Api:
    """The platform at ``config.url``; ``tokens`` gives the bearer token (or none)."""

    def __init__(self, config: Config, tokens: TokenSource | None = None) -> None:
        self.config = config
        self.tokens = tokens if tokens is not None else TokenSource(config)
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "dash-platform-cli"

    def _headers(self, extra: dict[str, str] | None, *, force: bool = False) -> dict[str, str]:
        headers = dict(extra or {})
        token = self.tokens.get(force=force)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        slug: str | None = None,
        bundle: bool = False,
        ok: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
        timeout: float | tuple[float, float | None] = TIMEOUT,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; any status outside ``ok`` becomes a CliError.

        ``slug`` names the app it is about and ``bundle`` marks an upload, for the message.
        A 401 is retried once with a renewed token when the body can be sent again.
        """
        url = f"{self.config.url}{path}"
        response = self._send(method, url, self._headers(headers), timeout, kwargs)
        resendable = not hasattr(kwargs.get("data"), "read")
        if (
            response.status_code == 401
            and resendable
            and self.tokens.renewable
            and self.tokens.get() is not None
        ):
            response.close()
            retry_headers = self._headers(headers, force=True)
            response = self._send(method, url, retry_headers, timeout, kwargs)
        if response.status_code not in ok:
            raise error_for_response(response, slug=slug, bundle=bundle)
        return response

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        timeout: float | tuple[float, float | None],
        kwargs: dict[str, Any],
    ) -> requests.Response:
        try:
            return self.http.request(method, url, headers=headers, timeout=timeout, **kwargs)
        except requests.ConnectionError as error:
            raise CliError(
                f"cannot reach the platform at {self.config.url} (set DASH_PLATFORM_URL)",
                EXIT_UNREACHABLE,
            ) from error
        except requests.Timeout as error:
            raise CliError(
                f"the platform at {self.config.url} did not answer in time", EXIT_UNREACHABLE
            ) from error
        except requests.RequestException as error:
            raise CliError(f"request to {url} failed: {error}", EXIT_UNREACHABLE) from error

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a request (None for an empty answer, e.g. 204)."""
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            raise CliError(
                f"the platform answered {method} {path} with something other than JSON"
            ) from error
