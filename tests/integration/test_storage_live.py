"""What the live platform stores, and how (issue 12: findings 3, 9, 17).

Signed in through the real Keycloak; the database is read from its file, as anyone who
got a copy of it would.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
import requests

from tests.hosting_client import create_app, csrf_headers
from tests.live_stack import Stack
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

#: How every JWT Keycloak issues begins ({"alg":...): none may be in the file.
JWT_START = b"eyJhbGciOi"
RACE_SLUG = "storage-race"


def _database(stack: Stack) -> Path:
    return stack.data_dir / "portal.db"


def _query(stack: Stack, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{_database(stack)}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(sql).fetchall()


def _session_rows(stack: Stack) -> int:
    return _query(stack, "SELECT count(*) FROM sessions")[0][0]


def test_the_database_file_holds_no_token_in_clear_text(stack: Stack) -> None:
    bob = login(stack.portal_url, "bob")
    assert bob.get(f"{stack.portal_url}/api/me", timeout=30).json()["username"] == "bob"
    files = sorted(stack.data_dir.glob("portal.db*"))
    stored = b"".join(path.read_bytes() for path in files)
    assert b"session:" in stored  # the sessions are in the file...
    assert JWT_START not in stored, f"a JWT in clear text in {[p.name for p in files]}"


def test_the_database_and_the_data_folder_are_private(stack: Stack) -> None:
    assert stat.S_IMODE(stack.data_dir.stat().st_mode) == 0o711  # enter (apps, nginx), not list
    for path in [_database(stack), stack.data_dir / "secret_key"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_anonymous_logins_store_nothing(stack: Stack) -> None:
    before = _session_rows(stack)
    for _ in range(30):
        answer = requests.get(f"{stack.portal_url}/login", allow_redirects=False, timeout=30)
        assert answer.status_code == 302
    # Not "== before": the portal's own threads (the purge, revocations) may end sessions of
    # earlier tests meanwhile; they never add one.
    assert _session_rows(stack) <= before


def test_concurrent_patches_through_the_api_write_an_unbroken_audit_trail(stack: Stack) -> None:
    base = stack.portal_url
    alice = login(base, "alice")
    create_app(alice, base, RACE_SLUG, "Race")
    headers = csrf_headers(alice, base)
    statuses: list[int] = []
    barrier = threading.Barrier(20)

    def patch(number: int) -> None:
        barrier.wait(timeout=60)
        body = {"title": f"Race {number}", "viewers": {"users": [f"user{number}"]}}
        answer = alice.patch(
            f"{base}/api/apps/{RACE_SLUG}", json=body, headers=headers, timeout=120
        )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=patch, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    try:
        assert statuses == [200] * 20
        rows = _query(
            stack,
            "SELECT before, after FROM audit_events WHERE target = 'app:storage-race' "
            "AND action = 'app.update' ORDER BY id",
        )
        events = [(json.loads(before), json.loads(after)) for before, after in rows]
        assert len(events) == 20
        assert events[0][0]["title"] == "Race"
        stale = [i for i in range(1, 20) if events[i][0] != events[i - 1][1]]
        assert not stale, f"{len(stale)} of 19 events name a stale 'before'"
    finally:
        alice.delete(f"{base}/api/apps/{RACE_SLUG}", headers=headers, timeout=120)


def test_one_client_flooding_login_is_slowed_down_by_the_front_door(stack: Stack) -> None:
    statuses: list[int] = []
    barrier = threading.Barrier(100)

    def start_sign_in() -> None:
        barrier.wait(timeout=60)
        answer = requests.get(f"{stack.portal_url}/login", allow_redirects=False, timeout=120)
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=start_sign_in) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(statuses) == 100 and set(statuses) <= {302, 429}
    # 20 a second, 40 more queued: of 100 at once, dozens are turned away.
    assert statuses.count(429) >= 20, statuses
