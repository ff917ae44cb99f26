"""Where server-side sessions live: Flask-Session's stores, with a per-worker cache.

Every request under /apps/ reads its session (a Dash app sends many callbacks), and an
ORM read of the session row costs more than a trivial callback itself. With
``Settings.host_cache`` each worker therefore keeps the rows it has read, tagged with a
change counter (:mod:`portal.change_counters`) that every session write and deletion
advances once committed: a file shared by the workers of the host with SQLite,
PostgreSQL's NOTIFY (sent by a trigger on the table) with PostgreSQL. A cached row is
used only while that counter is unchanged and the row has not expired, so a sign-out in
any worker (logout, back-channel logout, the Admin's sign-out) ends the session in every
worker at its next request (with NOTIFY, once the notification arrives: milliseconds).
While the counter cannot vouch for the cache (PostgreSQL's listener is reconnecting),
every request reads the store.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from datetime import datetime, timedelta
from typing import NamedTuple

import msgspec
from flask import Flask, Response
from flask_session.base import ServerSideSession
from flask_session.redis import RedisSessionInterface
from flask_session.sqlalchemy import SqlAlchemySessionInterface
from sqlalchemy import select
from sqlalchemy.exc import SAWarning, SQLAlchemyError

from portal.change_counters import ChangeCounter, change_counter
from portal.change_notify import NotifiedCounter, install_change_trigger
from portal.extensions import db
from portal.settings import Settings

__all__ = [
    "SESSION_COOKIE_NAME",
    "CachedSqlAlchemySessionInterface",
    "init_sessions",
]

log = logging.getLogger(__name__)

SESSION_COOKIE_NAME = "dash_portal_session"
#: Flask-Session's table of sessions.
SESSIONS_TABLE = "sessions"


class _CachedRow(NamedTuple):
    generation: int
    expires_at: float  # epoch seconds
    data: bytes


class CachedSqlAlchemySessionInterface(SqlAlchemySessionInterface):
    """Flask-Session's SQLAlchemy store; with a ``generation`` counter, rows are cached per
    worker."""

    #: Rows kept per worker; beyond it the cache starts over (each row is a few kB).
    max_cached = 4096

    def __init__(self, app: Flask, *, generation: ChangeCounter | None, **options: object) -> None:
        super().__init__(app, **options)
        self.generation = generation
        self._rows: dict[str, _CachedRow] = {}
        self._lock = threading.Lock()
        self._verified: dict[str, str] = {}  # signed cookie value -> session id

    def _unsign(self, app: Flask, sid: str) -> str:
        # A cookie value verifies to the same id every time: check each value once.
        # Only values whose signature held are remembered; a bad one raises every time.
        known = self._verified.get(sid)
        if known is None:
            known = super()._unsign(app, sid)
            with self._lock:
                if len(self._verified) >= self.max_cached:
                    self._verified.clear()
                self._verified[sid] = known
        return known

    def save_session(self, app: Flask, session: ServerSideSession, response: Response) -> None:
        if session.modified or app.config["SESSION_REFRESH_EACH_REQUEST"]:
            super().save_session(app, session, response)
        elif session.accessed:  # nothing to store and no cookie to set: say what we read
            response.headers.add("Vary", "Cookie")  # the answer depends on who asks

    def _retrieve_session_data(self, store_id: str) -> dict | None:
        if self.generation is None:
            return super()._retrieve_session_data(store_id)
        generation = self.generation.current()  # before the read: see the module docstring
        if generation is None:  # changes may go unseen right now: cache nothing
            return super()._retrieve_session_data(store_id)
        cached = self._rows.get(store_id)
        if (
            cached is not None
            and cached.generation == generation
            and cached.expires_at > time.time()
        ):
            return self._decode(cached.data)
        model = self.sql_session_model
        row = self.client.session.execute(
            select(model.data, model.expiry).where(model.session_id == store_id)
        ).first()
        if row is None:
            self._forget(store_id)
            return None
        # Flask-Session stores naive UTC datetimes.
        expires_at = (row.expiry - datetime(1970, 1, 1)).total_seconds() if row.expiry else 0.0
        if expires_at <= time.time():
            self._delete_session(store_id)
            return None
        data = bytes(row.data)
        with self._lock:
            if len(self._rows) >= self.max_cached:
                self._rows.clear()
            self._rows[store_id] = _CachedRow(generation, expires_at, data)
        return self._decode(data)

    def _decode(self, data: bytes) -> dict:
        # msgpack straight away (what Flask-Session writes); its serializer wraps each
        # attempt in contextlib.suppress and falls back to JSON and pickle after it.
        try:
            return self.serializer.decoder.decode(data)
        except msgspec.DecodeError:
            return self.serializer.decode(data)

    def _forget(self, store_id: str) -> None:
        with self._lock:
            self._rows.pop(store_id, None)

    def _changed(self, store_id: str) -> None:
        # After the store's own commit (Flask-Session commits inside these methods).
        self._forget(store_id)
        if self.generation is not None:
            self.generation.advance()

    def _delete_session(self, store_id: str) -> None:
        try:
            super()._delete_session(store_id)
        finally:  # even if the delete failed half-way, no worker may trust its copy
            self._changed(store_id)

    def _upsert_session(
        self, session_lifetime: timedelta, session: ServerSideSession, store_id: str
    ) -> None:
        try:
            super()._upsert_session(session_lifetime, session, store_id)
        finally:
            self._changed(store_id)


def init_sessions(app: Flask, settings: Settings) -> None:
    """Configure the session cookie and install the store named by ``settings``."""
    app.config.update(
        SESSION_PERMANENT=True,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_lifetime_seconds),
        # Save only when changed: a callback must not rewrite the session it reads.
        SESSION_REFRESH_EACH_REQUEST=False,
        SESSION_COOKIE_NAME=SESSION_COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
    )
    common = {
        "key_prefix": "session:",
        # Flask-Session deprecates signing the (already random) id; we keep the signature
        # so a tampered cookie is refused before the store is even asked.
        "use_signer": True,
        "permanent": True,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # use_signer, see above
        if settings.session_backend == "redis":
            import redis

            client = redis.from_url(settings.redis_url)
            app.session_interface = RedisSessionInterface(app, client=client, **common)
        elif settings.session_backend == "sqlalchemy":
            _forget_sessions_table()
            with warnings.catch_warnings(), app.app_context():
                # Flask-Session re-declares its model when a second app is built.
                warnings.simplefilter("ignore", SAWarning)
                app.session_interface = CachedSqlAlchemySessionInterface(
                    app,
                    generation=None,  # set below, once the table exists
                    client=db,
                    table=SESSIONS_TABLE,
                    # Expired rows are refused when read and purged on a schedule
                    # (portal.auth.purge), not by a hook that runs on every request.
                    cleanup_n_requests=None,
                    **common,
                )
                app.session_interface.generation = _sessions_counter(app)
        else:
            raise ValueError(f"unknown PORTAL_SESSION_BACKEND {settings.session_backend!r}")


def _sessions_counter(app: Flask) -> ChangeCounter | None:
    """The counter of the session cache; with PostgreSQL, once the table's trigger is in."""
    counter = change_counter(app, "sessions")
    if isinstance(counter, NotifiedCounter):
        try:
            with db.engine.begin() as connection:
                install_change_trigger(connection, SESSIONS_TABLE, counter.channel)
        except SQLAlchemyError as error:  # e.g. no right to create it: no cache, still right
            log.warning("sessions are not cached: cannot install their change trigger: %s", error)
            return None
    return counter


def _forget_sessions_table() -> None:
    # Flask-Session declares its table on the shared metadata at every init; drop an
    # earlier declaration so a second app in one process (tests, tools) can be built.
    if SESSIONS_TABLE in db.metadata.tables:
        db.metadata.remove(db.metadata.tables[SESSIONS_TABLE])
