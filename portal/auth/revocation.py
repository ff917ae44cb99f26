"""Revoking a user's tokens before they expire.

Keycloak's access tokens are valid until they expire (minutes), and Keycloak tells the
portal about a disabled or signed-out user only when a session next refreshes. So the
platform keeps a *not-before* time per user (``revoked_before``): a bearer token or a
sign-in whose authentication (``auth_time``, else ``iat``) is older is refused. It is
written when the Admin section signs a user out, and by :class:`AdminEventWatcher`,
which reads Keycloak's admin events (through the ``dash-admin`` service account) every
few seconds and revokes users that were disabled, deleted or signed out in Keycloak.
Nothing here asks Keycloak on a user's request.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from sqlalchemy import select

from portal.auth.models import RevokedBefore
from portal.extensions import db
from portal.services import services

__all__ = [
    "AdminEventWatcher",
    "end_sessions_gone_from_keycloak",
    "not_before",
    "revoke",
    "revoked_user",
]

#: Keycloak sends a logout token while its "Sign out" of the user is still under way
#: (the user's other sessions are removed when that request commits): ask a moment later.
GONE_SESSIONS_DELAY = 1.0

log = logging.getLogger(__name__)


def revoke(sub: str, *, at: float | None = None) -> None:
    """Refuse the user's tokens authenticated before ``at`` (default: now).

    Keycloak stamps ``auth_time`` in whole seconds, so a sign-in in the very second of
    the revocation counts as before it: refused, on the safe side.
    """
    at = time.time() if at is None else at
    row = db.session.get(RevokedBefore, sub)
    if row is None:
        db.session.add(RevokedBefore(sub=sub, not_before=at))
    else:
        row.not_before = max(row.not_before, at)
    db.session.commit()


def not_before(sub: str) -> float | None:
    """The user's not-before time, if the platform revoked their tokens."""
    return db.session.scalar(select(RevokedBefore.not_before).where(RevokedBefore.sub == sub))


def _event_user(event: Mapping[str, Any]) -> str | None:
    """The user an admin event revokes: disabled, deleted or signed out; else None."""
    parts = str(event.get("resourcePath", "")).split("/")
    if len(parts) < 2 or parts[0] != "users":
        return None
    operation = event.get("operationType")
    if operation == "DELETE" and len(parts) == 2:
        return parts[1]
    if operation == "ACTION" and parts[2:] == ["logout"]:
        return parts[1]
    if operation == "UPDATE" and len(parts) == 2:
        try:
            rep = json.loads(event.get("representation") or "{}")
        except ValueError:
            return None
        return parts[1] if isinstance(rep, dict) and rep.get("enabled") is False else None
    return None


def revoked_user(event: Mapping[str, Any]) -> tuple[str, float] | None:
    """``(sub, time)`` when a Keycloak admin event ends a user's access, else None."""
    sub = _event_user(event)
    if sub is None:
        return None
    return sub, float(event.get("time", 0)) / 1000


def end_sessions_gone_from_keycloak(app: Flask, sub: str, *, delay: float) -> None:
    """In ``delay`` seconds, end the user's portal sessions whose Keycloak session is gone.

    Keycloak's "Sign out" of a user ends all their sessions but sends one logout token:
    one question to Keycloak (through the service account) finds the rest.
    """

    def check() -> None:
        from portal.auth.sessions import end_sessions

        with app.app_context():
            try:
                alive = services(app).directory.session_ids(sub)
                ended = end_sessions(sub=sub, keep_keycloak_sids=alive or frozenset())
            except Exception as error:  # a background thread: log, never raise
                log.warning("could not check the sessions of %s: %s", sub, error)
                return
            if ended:
                log.info("ended %d portal session(s) of %s gone from Keycloak", ended, sub)

    timer = threading.Timer(delay, check)
    timer.daemon = True
    timer.start()


class AdminEventWatcher:
    """Reads Keycloak's admin events on users and revokes whom they disable or sign out.

    One daemon thread per portal process, started on its first request (gunicorn forks
    workers after loading the app, and threads do not survive a fork). Each event is
    handled once per process (the newest page of events is remembered); handling one
    twice is harmless.
    """

    def __init__(self, app: Flask, *, interval: float) -> None:
        self.app = app
        self.interval = interval
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._since = time.time()

    def ensure_running(self) -> None:
        """Start the thread in this process unless it runs already (cheap after the first)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._seen.clear()
            self._since = time.time()
            threading.Thread(target=self._run, name="admin-event-watcher", daemon=True).start()

    def _run(self) -> None:
        failing = False
        while True:
            time.sleep(self.interval)
            try:
                with self.app.app_context():
                    self.poll_once()
            except Exception as error:  # the watcher must outlive any failure
                if not failing:  # once per outage, not every few seconds
                    log.warning("admin event watcher: %s", error)
                failing = True
            else:
                if failing:
                    log.info("admin event watcher: Keycloak answers again")
                failing = False

    def poll_once(self, end_sessions: Callable[..., int] | None = None) -> list[str]:
        """Handle the admin events that are new since the last poll; returns whom it revoked."""
        from portal.auth.sessions import end_sessions as end_portal_sessions

        end = end_sessions or end_portal_sessions
        directory = services(self.app).directory
        revoked = []
        events = directory.user_admin_events()
        seen, self._seen = self._seen, {self._key(e) for e in events}
        for event in reversed(events):
            # Keycloak stamps events in milliseconds; a second of slack covers clock steps.
            if self._key(event) in seen or float(event.get("time", 0)) / 1000 < self._since - 1:
                continue
            found = revoked_user(event)
            if found is None:
                continue
            sub, at = found
            revoke(sub, at=at)
            ended = end(sub=sub)
            log.info("Keycloak revoked user %s: ended %d portal session(s)", sub, ended)
            revoked.append(sub)
        return revoked

    @staticmethod
    def _key(event: Mapping[str, Any]) -> str:
        return str(event.get("id") or (event.get("time"), event.get("resourcePath")))
