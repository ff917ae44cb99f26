"""Calls to Keycloak's admin API as the ``dash-admin`` service account.

The service account signs in with client credentials; its token is kept until shortly
before it expires and renewed once if Keycloak says it is no longer valid. Every
failure becomes a typed error whose message is safe to show to an admin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests

from .model import DirectoryRefused, DirectoryUnavailable

__all__ = ["AdminApi"]

_PAGE = 100
_LIMIT = 10_000  # Never page past this many rows: a guard, not a feature.


class AdminApi:
    """The admin REST API of one realm, with the service account's token cached."""

    def __init__(
        self,
        *,
        base_url: str,
        realm: str,
        client_id: str,
        client_secret: str,
        timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._realm = realm
        self._admin = f"{self._base}/admin/realms/{quote(realm, safe='')}"
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout
        self._http = session or requests.Session()
        self._lock = threading.Lock()
        self._token: tuple[str, float] | None = None

    def _access_token(self) -> str:
        """The service account's token, from the cache or from the token endpoint."""
        with self._lock:
            if self._token and self._token[1] > time.monotonic():
                return self._token[0]
        url = f"{self._base}/realms/{quote(self._realm, safe='')}/protocol/openid-connect/token"
        data = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        try:
            response = self._http.post(url, data=data, timeout=self._timeout)
        except requests.RequestException as error:
            raise DirectoryUnavailable(
                f"Keycloak is unreachable ({type(error).__name__})."
            ) from None
        if response.status_code != 200:
            raise DirectoryUnavailable(
                f"Keycloak refused the {self._client_id} service account "
                f"(HTTP {response.status_code}): check its client secret."
            )
        body = response.json()
        lifetime = float(body.get("expires_in", 60))
        # Renew well before expiry so a token never dies between check and use.
        expires = time.monotonic() + max(lifetime - min(30.0, lifetime / 2), 1.0)
        with self._lock:
            self._token = (body["access_token"], expires)
        return body["access_token"]

    def call(self, method: str, path: str, **params: Any) -> Any:
        """One admin API call; ``None`` on 404. Retries once with a fresh token on 401."""
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._access_token()}"}
            try:
                response = self._http.request(
                    method,
                    self._admin + path,
                    params=params or None,
                    headers=headers,
                    timeout=self._timeout,
                )
            except requests.RequestException as error:
                raise DirectoryUnavailable(
                    f"Keycloak's admin API is unreachable ({type(error).__name__})."
                ) from None
            if response.status_code == 401 and attempt == 1:
                with self._lock:
                    self._token = None
                continue
            break
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise DirectoryRefused(
                f"Keycloak's admin API refused {self._client_id} (HTTP {response.status_code}):"
                " it needs the realm-management roles query-users, view-users, query-groups,"
                " view-events and view-realm."
            )
        if response.status_code >= 400:
            raise DirectoryUnavailable(
                f"Keycloak's admin API answered HTTP {response.status_code}."
            )
        return response.json() if response.content else None

    def paged(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list that Keycloak pages with ``first``/``max``."""
        for first in range(0, _LIMIT, _PAGE):
            page = self.call("GET", path, first=first, max=_PAGE, **params) or []
            yield from page
            if len(page) < _PAGE:
                return
