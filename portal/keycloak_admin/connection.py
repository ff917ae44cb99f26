"""python-keycloak's ``KeycloakAdmin`` as the ``dash-admin`` service account, and the one
translation of its errors into the directory's typed errors.

python-keycloak signs in with the client credentials and fetches a new token when the
old one nears its end or is refused. The directory only reads, through the library's
public methods (``get_users``, ``get_group_members``, ``get_events``...).

**One KeycloakAdmin per thread.** The library keeps the token in a header dict that a
token fetch rewrites, and its token request swaps ``Content-Type`` on another shared
dict; neither is guarded by a lock, so threads sharing one object could send a request
while another thread changes its headers. A thread gets its own on first use (one token
request) and keeps it: gunicorn's request threads live as long as their worker, and the
admin-event watcher is one thread. A process forked after using it starts afresh (the
pid is part of the key), so no two processes share a pooled connection.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

from keycloak.exceptions import (
    KeycloakAuthenticationError,
    KeycloakConnectionError,
    KeycloakError,
    KeycloakPostError,
)

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

from .model import DirectoryError, DirectoryRefused, DirectoryUnavailable

__all__ = ["AdminConnection", "directory_error"]

T = TypeVar("T")


def directory_error(error: KeycloakError, client_id: str) -> DirectoryError:
    """The typed error, safe to show to an admin, for what python-keycloak raised.

    The directory never writes, so a failed POST is the token request: the service
    account's credentials were refused. A 401 is raised for the token request too, or
    for a call refused even with a fresh token (python-keycloak retries a 401 once).
    """
    if isinstance(error, KeycloakConnectionError):
        reason = type(error.__cause__ or error).__name__  # ConnectionError, ReadTimeout...
        return DirectoryUnavailable(f"Keycloak's admin API is unreachable ({reason}).")
    code = error.response_code
    if isinstance(error, KeycloakAuthenticationError | KeycloakPostError):
        return DirectoryUnavailable(
            f"Keycloak refused the {client_id} service account (HTTP {code}):"
            " check its client secret."
        )
    if code == 403:
        return DirectoryRefused(
            f"Keycloak's admin API refused {client_id} (HTTP 403): it needs the"
            " realm-management roles query-users, view-users, query-groups, view-events"
            " and view-realm."
        )
    return DirectoryUnavailable(f"Keycloak's admin API answered HTTP {code}.")


class AdminConnection:
    """The admin API of one realm through python-keycloak, one ``KeycloakAdmin`` per thread."""

    def __init__(
        self,
        *,
        base_url: str,
        realm: str,
        client_id: str,
        client_secret: str,
        timeout: float = 5.0,
    ) -> None:
        # python-keycloak joins relative paths to the server URL: it must end with "/".
        self._server_url = base_url.rstrip("/") + "/"
        self._realm = realm
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout
        self._local = threading.local()

    def admin(self) -> KeycloakAdmin:
        """This thread's ``KeycloakAdmin`` (made on first use, no request until a call)."""
        mine = getattr(self._local, "admin", None)
        if mine is None or mine[0] != os.getpid():
            connection = KeycloakOpenIDConnection(
                server_url=self._server_url,
                realm_name=self._realm,
                client_id=self._client_id,
                client_secret_key=self._client_secret,
                grant_type="client_credentials",
                timeout=self._timeout,  # typed int, handed to requests, which takes a float
                # One attempt per call: a Keycloak that does not answer costs one timeout.
                max_retries=0,
            )
            mine = (os.getpid(), KeycloakAdmin(connection=connection))
            self._local.admin = mine
        return mine[1]

    def ask(self, question: Callable[[KeycloakAdmin], T]) -> T | None:
        """``question(admin)``; ``None`` when Keycloak answers 404, a typed error otherwise."""
        try:
            return question(self.admin())
        except KeycloakError as error:
            if error.response_code == 404:
                return None
            raise directory_error(error, self._client_id) from None
