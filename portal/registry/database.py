"""The registry's schema: Alembic migrations, and the file lock the deploys share.

Migrations live in ``portal/migrations`` (Flask-Migrate layout). They run as one
command, ``flask --app portal.wsgi db upgrade``, before the portal's workers start:
`make up` (portal.hosting.local) and the container entrypoint run it; a worker never
migrates. The functions here are that command's programmatic twins, for tests.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from flask import current_app

__all__ = [
    "MIGRATIONS_DIR",
    "UNMANAGED_TABLES",
    "alembic_config",
    "downgrade_database",
    "file_lock",
    "upgrade_database",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

#: Tables in the platform database that Alembic must neither create nor drop:
#: Flask-Session creates and owns ``sessions`` itself.
UNMANAGED_TABLES = frozenset({"sessions"})


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block.

    ``flock`` locks belong to the open file, so they exclude other processes and other
    threads that open the file themselves; the kernel releases them if we die.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def alembic_config() -> Config:
    """The current app's Alembic configuration, as ``flask db`` builds it.

    Marked programmatic: env.py then leaves the process's logging alone.
    """
    config = current_app.extensions["migrate"].migrate.get_config(str(MIGRATIONS_DIR))
    config.attributes["portal_programmatic"] = True
    return config


def upgrade_database(revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` (inside an app context).

    Goes through Alembic directly rather than ``flask_migrate.upgrade``, which turns
    errors into ``sys.exit``.
    """
    command.upgrade(alembic_config(), revision)


def downgrade_database(revision: str) -> None:
    """Run the migrations down to ``revision`` (tests and operators only)."""
    command.downgrade(alembic_config(), revision)
