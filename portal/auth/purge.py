"""Forgetting what has expired: session rows, sign-in records, seen logout-token ids.

Nothing on the request path deletes. Each portal process runs :func:`purge_expired`
every ``Settings.purge_interval_seconds`` (10 minutes by default) on a background thread,
started by the process's first request (so it runs in each gunicorn worker, after the
fork). Deleting is idempotent: several workers, or hosts, purging at once do no harm.

Retention:

- a session row: until its expiry (``PORTAL_SESSION_LIFETIME`` after its last change);
- a sign-in record (``portal_logins``, which back-channel logout looks sessions up by):
  while its session exists, then until the next purge. Kept :data:`LOGIN_GRACE` at
  least, since the record is committed just before its session row. With Redis sessions,
  which the portal cannot list, and in any case, for at most :data:`LOGIN_RETENTION`:
  far beyond any portal session, which ends once Keycloak refuses to refresh it
  (the realm's SSO Session Max, 10 hours);
- a seen logout-token id: until that token expires.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app
from flask_session.sqlalchemy import SqlAlchemySessionInterface
from sqlalchemy import delete, literal, select

from portal.auth.models import LoginRecord, SeenLogoutToken
from portal.extensions import db

__all__ = ["LOGIN_GRACE", "LOGIN_RETENTION", "PurgeSchedule", "purge_expired"]

log = logging.getLogger(__name__)

LOGIN_GRACE = timedelta(minutes=10)
LOGIN_RETENTION = timedelta(days=7)


def purge_expired() -> dict[str, int]:
    """Delete what has expired (inside an app context); how many rows of each kind."""
    now = datetime.now(UTC)
    counts = {"sessions": 0, "logins": 0, "logout_tokens": 0}
    interface = current_app.session_interface
    too_old = LoginRecord.created_at < now - LOGIN_RETENTION
    try:
        if isinstance(interface, SqlAlchemySessionInterface):
            model = interface.sql_session_model
            # Flask-Session writes naive UTC expiry times. No worker trusts a cached copy
            # past its expiry, so this needs no cache invalidation.
            expired = delete(model).where(model.expiry <= now.replace(tzinfo=None))
            counts["sessions"] = db.session.execute(expired).rowcount
            session_exists = (
                select(model.id)
                .where(model.session_id == literal(interface.key_prefix) + LoginRecord.session_id)
                .exists()
            )
            ended = (LoginRecord.created_at < now - LOGIN_GRACE) & ~session_exists
            counts["logins"] = db.session.execute(delete(LoginRecord).where(ended)).rowcount
        counts["logins"] += db.session.execute(delete(LoginRecord).where(too_old)).rowcount
        seen = delete(SeenLogoutToken).where(SeenLogoutToken.expires_at < time.time())
        counts["logout_tokens"] = db.session.execute(seen).rowcount
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return counts


class PurgeSchedule:
    """Runs :func:`purge_expired` every ``interval`` seconds in this process, once started."""

    def __init__(self, app: Flask, interval: float) -> None:
        # Weak: the thread ends with the app (tests and tools build many in one process).
        self._app = weakref.ref(app)
        self.interval = interval
        self._pid: int | None = None  # the process the thread runs in
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        """Start the thread unless it runs in this process (a before_request hook)."""
        if self._pid == os.getpid() or self.interval <= 0:
            return
        with self._lock:
            if self._pid != os.getpid():  # threads do not survive a fork: start anew
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="portal-purge", daemon=True).start()

    def _run(self) -> None:
        while True:
            # Spread the workers' purges over the interval.
            time.sleep(self.interval * random.uniform(0.5, 1.0))  # noqa: S311 - not a secret
            app = self._app()
            if app is None:
                return
            self.run_once(app)
            del app

    @staticmethod
    def run_once(app: Flask) -> None:
        with app.app_context():
            try:
                counts = purge_expired()
            except Exception:  # a locked or unreachable database: try again next time
                log.exception("purge of expired sessions failed")
                return
            finally:
                db.session.remove()
        if any(counts.values()):
            log.info("purged expired rows: %s", counts)
