"""Concurrent writes to one app: each audit event's "before" is the state it replaced.

Writers are threads, each with its own database connection, on a file SQLite database
(where ``SELECT ... FOR UPDATE`` does nothing) and on PostgreSQL (where it locks the
row): two portals on one database stand for two gunicorn workers, their threads for
gunicorn's threads. Every write must see the state the previous one left, so the audit
trail is one unbroken chain.
"""

from __future__ import annotations

import threading
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from portal import audit
from portal.extensions import db
from portal.registry.models import AuditEvent
from portal.registry.policy import set_policy
from tests.unit.conftest_registry import ON_BOTH_ENGINES, make_app
from tests.unit.demo import DEMO_USERS

WRITERS = 20
ROUNDS = 3


def _run_together(targets: list) -> list[BaseException]:
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def run(target) -> None:
        try:
            barrier.wait(timeout=60)
            target()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer is still blocked after 120 s"
    return errors


def _events(app: Flask, action: str, target: str) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.action == action, AuditEvent.target == target)
        return list(db.session.scalars(query.order_by(AuditEvent.id)))


def _assert_one_chain(events: list[AuditEvent], first_before: dict) -> None:
    stale = [
        (event.id, event.before, previous)
        for event, previous in zip(events, [first_before] + [e.after for e in events], strict=False)
        if event.before != previous
    ]
    assert not stale, f"{len(stale)} of {len(events)} events name a stale 'before': {stale[:3]}"


@ON_BOTH_ENGINES
def test_concurrent_patches_of_one_app_write_an_unbroken_audit_trail(
    tmp_path: Path, database_url: str
) -> None:
    workers = [
        make_app(tmp_path, database_url=database_url),
        make_app(tmp_path, seed=False, database_url=database_url),
    ]
    with workers[0].app_context():
        original = audit.recent(1, target="app:sales")[0]["after"]
    statuses: list[int] = []

    def patch(number: int) -> None:
        client = workers[number % 2].test_client()
        body = {"title": f"Sales {number}", "viewers": {"users": [f"user{number}"]}}
        answer = client.patch("/api/apps/sales", json=body, user="alice")
        statuses.append(answer.status_code)

    for round_number in range(ROUNDS):
        writers = [(lambda n=round_number * WRITERS + i: patch(n)) for i in range(WRITERS)]
        assert _run_together(writers) == []
    assert statuses == [200] * (WRITERS * ROUNDS)
    events = _events(workers[0], "app.update", "app:sales")
    assert len(events) == WRITERS * ROUNDS
    first = {"title": original["title"], "viewers": original["viewers"]}
    _assert_one_chain(events, first)
    with workers[1].app_context():
        last = audit.recent(1, target="app:sales")[0]["after"]
    assert last == events[-1].after  # the app is in the state the last event says


@ON_BOTH_ENGINES
def test_concurrent_policy_changes_write_an_unbroken_audit_trail(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url=database_url)
    levels = [["restricted"], ["restricted", "authenticated"]]

    def change(number: int) -> None:
        with app.app_context():
            set_policy(allowed_access_levels=levels[number % 2], actor=DEMO_USERS["admin"])

    assert _run_together([lambda n=n: change(n) for n in range(WRITERS)]) == []
    events = _events(app, "policy.update", "policy:portal")
    assert len(events) == WRITERS
    for event, previous in zip(events[1:], events, strict=False):
        assert event.before["allowed_access_levels"] == previous.after["allowed_access_levels"]
