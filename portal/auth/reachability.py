"""Whether Keycloak answers right now: one cheap check, shared by a process's requests.

Authlib loads the realm's discovery document once and keeps it, so after the first
sign-in /login would go on sending browsers to a Keycloak that has since stopped (or is
still starting), and they would meet a connection error instead of the portal's 503
page. Before each redirect the portal asks :class:`Reachability`, which fetches the
discovery document at most once per ``ttl`` seconds per process and shares the answer
between the process's threads: an outage shows within ``ttl`` and costs one request a
second, not one per sign-in.
"""

from __future__ import annotations

import threading
import time

import requests

__all__ = ["Reachability"]


class Reachability:
    """Keycloak's discovery document answered 200 with JSON within the last ``ttl`` s."""

    def __init__(self, discovery_url: str, *, ttl: float = 1.0, timeout: float = 2.0) -> None:
        self.discovery_url = discovery_url
        self.ttl = ttl
        self.timeout = timeout
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._problem: str | None = None

    def problem(self) -> str | None:
        """Why Keycloak cannot be used now (None when it answered), at most ``ttl`` old."""
        with self._lock:  # one check at a time; the others wait and share its answer
            if time.monotonic() - self._checked_at >= self.ttl:
                self._problem = self._check()
                self._checked_at = time.monotonic()
            return self._problem

    def _check(self) -> str | None:
        try:
            answer = requests.get(self.discovery_url, timeout=self.timeout)
        except requests.RequestException as error:
            return f"no answer from {self.discovery_url} ({type(error).__name__})"
        if answer.status_code != 200:
            # While Keycloak starts, the realm is not there yet (404) or the server says 503.
            return f"{self.discovery_url} answered {answer.status_code}"
        try:
            answer.json()["authorization_endpoint"]
        except (ValueError, KeyError, TypeError):
            return f"{self.discovery_url} answered no discovery document"
        return None
