"""python-keycloak's ``KeycloakAdmin`` as the ``dash-admin`` service account, and the one
translation of its errors into the directory's typed errors.

python-keycloak signs in with the client credentials and fetches a new token when the
old one nears its end or is refused. The directory only reads, through the library's
public methods (``get_users``, ``get_group_members``, ``get_events``...).

**One KeycloakAdmin per process, shared by its threads.** Making one costs about 0.1 s
of CPU (python-keycloak builds an unused async HTTP client, loading the CA bundle, twice),
too much for every thread: the revocation check runs in a new timer thread each time.
Its calls share a ``requests`` session, as the portal's own HTTP calls always have. What
the library does not guard is the token fetch: it rewrites the ``Authorization`` header
and swaps ``Content-Type`` on its token client's headers while it runs, so two threads
renewing at once would trip over each other. :class:`OneRenewalAtATime` serializes the
renewals; a thread that waited for another's renewal uses that token. The object is made
on first use in each process (the pid is checked), so a forked worker never shares
pooled connections with its parent.

Each call gets one attempt (``max_retries=0``), so a Keycloak that does not answer costs
one ``timeout``. The token request is the exception: python-keycloak builds its token
client itself with one retry, so a Keycloak that accepts connections but never answers
costs two timeouts when a token is due (measured: 2.2 s with ``timeout=1``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from keycloak.exceptions import (
    KeycloakAuthenticationError,
    KeycloakConnectionError,
    KeycloakError,
    KeycloakGetError,
    KeycloakPostError,
)

from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

from .model import DirectoryError, DirectoryRefused, DirectoryUnavailable

__all__ = ["AdminConnection", "OneRenewalAtATime", "directory_error"]

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


class OneRenewalAtATime(KeycloakOpenIDConnection):
    """A ``KeycloakOpenIDConnection`` whose token renewals run one at a time."""

    def __init__(self, **options: Any) -> None:
        self.renewal = threading.Lock()
        super().__init__(**options)

    def refresh_token(self) -> None:
        """Renew the token, unless another thread renewed it while this one waited."""
        stale = self.token
        with self.renewal:
            if self.token is stale:
                super().refresh_token()


class AdminConnection:
    """The admin API of one realm through python-keycloak, one ``KeycloakAdmin`` per process."""

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
        self._lock = threading.Lock()
        self._admin: tuple[int, KeycloakAdmin] | None = None

    def admin(self) -> KeycloakAdmin:
        """This process's ``KeycloakAdmin`` (made on first use; no request until a call)."""
        made = self._admin
        if made is None or made[0] != os.getpid():
            with self._lock:
                made = self._admin
                if made is None or made[0] != os.getpid():
                    connection = OneRenewalAtATime(
                        server_url=self._server_url,
                        realm_name=self._realm,
                        client_id=self._client_id,
                        client_secret_key=self._client_secret,
                        grant_type="client_credentials",
                        timeout=self._timeout,  # typed int; requests takes a float
                        max_retries=0,
                    )
                    made = self._admin = (os.getpid(), KeycloakAdmin(connection=connection))
        return made[1]

    def ask(self, question: Callable[[KeycloakAdmin], T]) -> T | None:
        """``question(admin)``; ``None`` when the admin API answers 404 (no such user,
        session...), a typed error otherwise. A 404 of the token request (the realm is not
        there yet while Keycloak starts) is an error, not an empty answer."""
        try:
            return question(self.admin())
        except KeycloakError as error:
            if isinstance(error, KeycloakGetError) and error.response_code == 404:
                return None
            raise directory_error(error, self._client_id) from None
