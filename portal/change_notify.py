"""Change counters told by PostgreSQL, for portal processes on any number of hosts.

The per-process caches of sessions and app records (see :mod:`portal.generation`) need
to learn of every change made by another process. With SQLite a counter file shared on
the host does it; with PostgreSQL the database itself tells: each write sends a
``NOTIFY`` in its own transaction (delivered only if and when it commits), and one
thread per process ``LISTEN``\\s and advances an in-process counter per channel.

Correctness before speed: a notification can be missed only while the listening
connection is down (starting up, PostgreSQL restarting, the connection killed). For that
whole time :meth:`NotifiedCounter.current` answers ``None`` and the caches read the
database on every request; once listening again, every counter advances once, which
voids whatever was cached before. A connection that dies silently is found by a query
every ``PING_SECONDS`` (with TCP timeouts of the same order).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Mapping

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session

from portal.generation import after_commit

__all__ = [
    "ChangeListener",
    "NotifiedCounter",
    "channel_of",
    "install_change_trigger",
    "is_postgresql",
    "stop_listeners",
]

log = logging.getLogger(__name__)

#: How the listening connection shows in pg_stat_activity (and what tests terminate).
APPLICATION_NAME = "portal-change-listener"
#: A silent connection is tested this often, and waits for notifications in between.
PING_SECONDS = 1.0
#: Pause between attempts to connect again, growing up to the maximum.
RETRY_SECONDS = (0.1, 2.0)


def is_postgresql(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def channel_of(name: str) -> str:
    """The NOTIFY channel of a counter: ``sessions`` → ``portal_sessions``."""
    return f"portal_{name}"


class NotifiedCounter:
    """One process's count of the changes announced on a channel.

    ``current()`` is ``None`` while the listener is not listening: trust no cache then.
    """

    __slots__ = ("_listener", "_lock", "_value", "channel")

    def __init__(self, listener: ChangeListener, channel: str) -> None:
        self._listener = listener
        self.channel = channel
        self._value = 0
        self._lock = threading.Lock()

    def current(self) -> int | None:
        listener = self._listener
        if not listener.started:  # first use in this process (gunicorn forks workers)
            listener.start()
        return self._value if listener.listening else None

    def advance(self) -> int:
        """Count a change this process committed (the others learn it from NOTIFY)."""
        with self._lock:
            self._value += 1
            return self._value

    def announce(self, session: Session) -> None:
        """Inside a write's transaction: every process counts it once it commits."""
        session.execute(select(func.pg_notify(self.channel, "")))
        after_commit(session, self.advance)


class ChangeListener:
    """The ``LISTEN`` connection of one process, advancing its counters per channel."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._connect_args = {
            **url.translate_connect_args(username="user", database="dbname"),
            **dict(url.query),
        }
        self._counters: dict[str, NotifiedCounter] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        #: Whether this process started (or stopped) listening; a fork child has not.
        self.started = False
        _LISTENERS.add(self)

    def counter(self, name: str) -> NotifiedCounter:
        """The counter of ``name``'s channel (one per name); call before the first start."""
        channel = channel_of(name)
        return self._counters.setdefault(channel, NotifiedCounter(self, channel))

    @property
    def counters(self) -> Mapping[str, NotifiedCounter]:
        return self._counters

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def start(self) -> None:
        """Start listening in this process."""
        with self._lock:
            if self.started:
                return
            self._thread = threading.Thread(target=self._run, name=APPLICATION_NAME, daemon=True)
            self._thread.start()
            self.started = True

    def wait_listening(self, timeout: float) -> bool:
        self.start()
        return self._listening.wait(timeout)

    def stop(self) -> None:
        """Stop listening for good (tests, shutdown): counters answer ``None`` from now on.

        The thread ends at its next wake-up (within ``PING_SECONDS``), or at once when its
        connection is closed; nobody waits for it.
        """
        with self._lock:
            self.started = True  # and never start again
            self._stopped.set()
            self._listening.clear()
            self._thread = None

    def _forget_thread(self) -> None:
        # In a fork child: the parent's thread and connection are not ours.
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listening = threading.Event()
        self._thread = None
        self.started = False

    def _run(self) -> None:
        pause = RETRY_SECONDS[0]
        while not self._stopped.is_set():
            try:
                self._listen()
                pause = RETRY_SECONDS[0]
            except Exception as error:  # a background thread: log, retry, never raise
                if self._listening.is_set() or pause == RETRY_SECONDS[0]:
                    log.warning("change notifications interrupted: %s", error)
            finally:
                self._listening.clear()  # caches bypassed from here until listening again
            self._stopped.wait(pause)
            pause = min(pause * 2, RETRY_SECONDS[1])

    def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            autocommit=True,
            application_name=APPLICATION_NAME,
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=2,
            keepalives_interval=1,
            keepalives_count=2,
            tcp_user_timeout=int(PING_SECONDS * 3000),
            **self._connect_args,
        ) as connection:
            for channel in self._counters:
                connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            # Listening now: void whatever was cached while no notification could arrive.
            for counter in self._counters.values():
                counter.advance()
            self._listening.set()
            while not self._stopped.is_set():
                for notification in connection.notifies(timeout=PING_SECONDS):
                    counter = self._counters.get(notification.channel)
                    if counter is not None:
                        counter.advance()
                connection.execute("SELECT 1")  # raises if the connection died silently


_LISTENERS: weakref.WeakSet[ChangeListener] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for listener in list(_LISTENERS):
        listener._forget_thread()


os.register_at_fork(after_in_child=_after_fork_in_child)


def stop_listeners() -> None:
    """Stop every listener of this process (tests build many apps on one database)."""
    for listener in list(_LISTENERS):
        listener.stop()


def _has_trigger(connection: Connection, name: str) -> bool:
    query = text("SELECT 1 FROM pg_trigger WHERE tgname = :name AND NOT tgisinternal")
    return connection.execute(query, {"name": name}).first() is not None


def install_change_trigger(connection: Connection, table: str, channel: str) -> None:
    """Have every write to ``table`` send ``NOTIFY channel`` (PostgreSQL; idempotent).

    For tables written by code we do not own (Flask-Session's ``sessions``): the trigger
    announces inserts, updates and deletes in their own transaction, whoever makes them.
    """
    trigger = f"{table}_notify_change"
    if _has_trigger(connection, trigger):
        return
    # One installer at a time: workers starting together would race on the catalog.
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": trigger})
    if _has_trigger(connection, trigger):
        return
    connection.execute(
        text(
            f"CREATE OR REPLACE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{channel}', ''); RETURN NULL; END $$"
        )
    )
    connection.execute(
        text(
            f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f'ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION {trigger}()'
        )
    )
