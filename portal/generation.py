"""Change counters shared by the portal processes of one host, read without a system call.

Each gunicorn worker keeps sessions and app records in memory, yet must see at once a
change made by another worker: a sign-out, a revoked grant. So every cached value is
tagged with a counter that each write advances after its commit, and a reader trusts
its cache only while the counter still holds the value it was loaded under.

The counter is an 8-byte file in the data directory, mapped into memory: reading it is a
memory load (the guard pays this on every request), advancing it takes a file lock.
Only processes that share the file share the counter, so it stands in for a database
read only when every portal process runs on one host (see ``Settings.host_cache``).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

__all__ = ["Generation", "after_commit", "run_after_commit_hooks"]

# Native 8-byte integer at offset 0 of a page-aligned mapping: an aligned 64-bit load or
# store is one instruction on the 64-bit platforms we run on, so a reader sees the old
# value or the new one, never a mix of the two.
_COUNTER = struct.Struct("=Q")


class Generation:
    """A host-wide counter in ``path``: ``current()`` to read, ``advance()`` after a write."""

    __slots__ = ("_map", "path")

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _COUNTER.size:
                os.ftruncate(fd, _COUNTER.size)  # zero-filled; never shrinks a live counter
            # MAP_SHARED: a forked worker and the processes that map the file later all
            # see the same page.
            self._map = mmap.mmap(fd, _COUNTER.size)
        finally:
            os.close(fd)

    def current(self) -> int:
        return _COUNTER.unpack_from(self._map)[0]

    def announce(self, session: Session) -> None:
        """Inside a write's transaction: advance once it commits (see :func:`after_commit`)."""
        after_commit(session, self.advance)

    def advance(self) -> int:
        """Count one change; every cache loaded under an earlier value is stale from now."""
        # A fresh descriptor per call: flock belongs to the open file, and a descriptor
        # inherited across fork would be shared with the other workers, excluding nothing.
        with open(self.path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            value = _COUNTER.unpack_from(self._map)[0] + 1
            _COUNTER.pack_into(self._map, 0, value)
            return value


_AFTER_COMMIT = "portal_after_commit"


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run ``callback`` once ``session``'s transaction commits; forget it on rollback.

    A counter must advance after the data it announces is committed: a reader that saw
    the new value before the commit would cache the old data under it.
    """
    callbacks = session.info.setdefault(_AFTER_COMMIT, [])
    if callback not in callbacks:
        callbacks.append(callback)


def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, ()):
        callback()


def _forget_after_rollback(session: Session, previous_transaction: object) -> None:
    if previous_transaction.parent is None:  # type: ignore[attr-defined]  # outermost only
        session.info.pop(_AFTER_COMMIT, None)


_HOOKS = (("after_commit", _run_after_commit), ("after_soft_rollback", _forget_after_rollback))


def run_after_commit_hooks(sessions: scoped_session) -> None:
    """Make ``sessions`` (the portal's ``db.session``) run :func:`after_commit` callbacks.

    The factory calls it, so the hooks cover the sessions of the platform's database
    only (Flask-SQLAlchemy's session class), not every SQLAlchemy session in the
    process; calling it again adds nothing.
    """
    for name, hook in _HOOKS:
        if not event.contains(sessions, name, hook):
            event.listen(sessions, name, hook)
