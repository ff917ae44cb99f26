"""Which change counter tags a process's caches: a host file, PostgreSQL, or none.

Sessions and app records are cached in each portal process, each entry tagged with the
value of a :class:`ChangeCounter` when it was read; a different value later means some
process changed something since, and the entry is read again. Two kinds:

- :class:`~portal.generation.Generation`, a counter file in ``data_dir`` shared by the
  processes of one host: for SQLite (one host by construction);
- :class:`~portal.change_notify.NotifiedCounter`, advanced by PostgreSQL's NOTIFY: for
  processes on any number of hosts sharing one PostgreSQL database.

``Settings.host_cache`` says whether to cache at all (see its comment).
"""

from __future__ import annotations

from typing import Protocol

from flask import Flask
from sqlalchemy.orm import Session

from portal.change_notify import ChangeListener, is_postgresql
from portal.generation import Generation
from portal.services import services

__all__ = ["ChangeCounter", "change_counter"]


class ChangeCounter(Protocol):
    def current(self) -> int | None:
        """The count now; ``None`` while changes may go unseen (trust no cache then)."""

    def advance(self) -> int:
        """Count a change this process has just committed."""

    def announce(self, session: Session) -> None:
        """Inside a write's transaction: every process counts it once it commits."""


def change_counter(app: Flask, name: str) -> ChangeCounter | None:
    """The counter ``name`` ("sessions", "registry") of ``app``'s caches; None: no cache."""
    platform = services(app)
    settings = platform.settings
    if not settings.host_cache:
        return None
    if not is_postgresql(settings.database_url):
        return Generation(settings.data_dir / f"{name}.generation")
    if platform.change_listener is None:
        platform.change_listener = ChangeListener(settings.database_url)
    return platform.change_listener.counter(name)
