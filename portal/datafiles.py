"""The portal's own files in the data folder: readable by the portal's user only.

The database holds every session (sealed tokens, CSRF tokens, who is signed in) and the
apps' sealed environment variables; the secret key unseals them. Apps run as other users
and must not read any of it. The data folder itself stays enterable (0711): apps' folders
(``apps/``) and the sockets nginx's workers connect to (``run/``, ``apps/run/``) live
below it, but nobody else may list it or read what is in it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["DATA_DIR_MODE", "FILE_MODE", "private_data_dir", "private_sqlite_file"]

log = logging.getLogger(__name__)

#: Nobody but the portal's user may list or read the folder; entering it stays as it was
#: (0711 from the usual umask: apps and nginx reach their folders and sockets below it).
_GROUP_OTHER_READ_WRITE = 0o066
DATA_DIR_MODE = 0o711
FILE_MODE = 0o600
#: Files SQLite keeps next to a database (it gives them the database's mode).
_SQLITE_SIDECARS = ("-journal", "-wal", "-shm")


def _chmod(path: Path, mode: int) -> None:
    try:
        path.chmod(mode)
    except PermissionError:  # not ours (a mounted volume): say so, run anyway
        log.warning("cannot make %s mode %o: not owned by this user", path, mode)


def private_data_dir(data_dir: Path) -> None:
    """Create the data folder if needed (0711); take read and write from group and others
    (a 0700 folder stays 0700: then apps' folders and sockets live elsewhere)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=DATA_DIR_MODE)
    mode = data_dir.stat().st_mode & 0o777
    if mode & _GROUP_OTHER_READ_WRITE:
        _chmod(data_dir, mode & ~_GROUP_OTHER_READ_WRITE)


def private_sqlite_file(database_url: str) -> None:
    """Create a SQLite database file 0600 before SQLite does (it would use 0644), and
    tighten an existing one and its journals. Other databases: nothing to do."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    path = Path(url.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for candidate in (path, *(path.with_name(path.name + s) for s in _SQLITE_SIDECARS)):
        if candidate.exists() and candidate.stat().st_mode & 0o777 != FILE_MODE:
            _chmod(candidate, FILE_MODE)
