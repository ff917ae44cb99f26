"""The portal's data folder: nobody but the portal's user reads what is in it (finding 9)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from portal.datafiles import DATA_DIR_MODE, private_sqlite_file
from tests.unit.conftest_registry import make_app
from tests.unit.demo import DEMO_USERS
from tests.unit.portal_client import sign_in

BOB = DEMO_USERS["bob"]


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_folder_is_enterable_only_and_every_file_in_it_is_private(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    with umask(0o022):  # the usual umask: files 0644, folders 0755 unless made otherwise
        app = make_app(data_dir)
        sign_in(app, BOB)
    assert _mode(data_dir) == DATA_DIR_MODE == 0o711  # apps and nginx enter, none lists
    files = [p for p in data_dir.iterdir() if p.is_file()]
    assert {"portal.db", "secret_key", "sessions.generation"} <= {p.name for p in files}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_an_existing_database_and_its_journal_are_made_private(tmp_path: Path) -> None:
    database = tmp_path / "portal.db"
    for path in (database, tmp_path / "portal.db-journal"):
        path.write_bytes(b"")
        path.chmod(0o644)
    private_sqlite_file(f"sqlite:///{database}")  # what the portal does before connecting
    assert _mode(database) == 0o600 and _mode(tmp_path / "portal.db-journal") == 0o600


def test_an_existing_listable_data_folder_is_made_enterable_only(tmp_path: Path) -> None:
    tmp_path.chmod(0o775)
    make_app(tmp_path)
    assert _mode(tmp_path) == 0o711 and _mode(tmp_path / "portal.db") == 0o600


def test_a_closed_data_folder_stays_closed(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    make_app(tmp_path)
    assert _mode(tmp_path) == 0o700


def test_a_server_database_needs_no_file(tmp_path: Path) -> None:
    private_sqlite_file("postgresql://portal@db/portal")
    private_sqlite_file("sqlite://")  # in memory
    assert list(tmp_path.iterdir()) == []
