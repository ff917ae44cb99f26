"""A redeploy under 20 concurrent connections: no request fails, and the new version serves."""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest
import requests

from tests.hosting_client import APPS, create_app, deploy
from tests.oidc_flow import login

pytestmark = pytest.mark.integration

SLUG = "zero-downtime"
CONNECTIONS = 20


def test_redeploy_under_load_fails_no_request(portal_url: str, tmp_path: Path) -> None:
    alice = login(portal_url, "alice")
    create_app(alice, portal_url, SLUG, "Zero downtime")
    deploy(alice, portal_url, SLUG, APPS / "zero-downtime")
    second = tmp_path / "v2"
    shutil.copytree(APPS / "zero-downtime", second)
    (second / "VERSION").write_text("2\n")

    url = f"{portal_url}/apps/{SLUG}/_dash-layout"
    cookies = alice.cookies.get_dict()
    stop = threading.Event()
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def hammer() -> None:
        with requests.Session() as session:
            session.cookies.update(cookies)
            while not stop.is_set():
                try:
                    answer = session.get(url, timeout=30)
                    outcome = f"{answer.status_code} " + (
                        "v2"
                        if "version 2" in answer.text
                        else "v1"
                        if "version 1" in answer.text
                        else answer.text[:80]
                    )
                except requests.RequestException as error:
                    outcome = f"error {type(error).__name__}"
                with lock:
                    seen[outcome] += 1

    threads = [threading.Thread(target=hammer) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    try:
        deploy(alice, portal_url, SLUG, second)
        # Keep going past the drain, so requests to the stopping version are counted too.
        threading.Event().wait(4)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    failed = {outcome: n for outcome, n in seen.items() if not outcome.startswith("200 v")}
    assert not failed, f"failed requests during the redeploy: {failed} (all: {dict(seen)})"
    assert seen["200 v1"] > 0 and seen["200 v2"] > 0, dict(seen)
