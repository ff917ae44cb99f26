"""Issue 11's figures: a redeploy under load, a cold start from zero processes, and
`dash-platform deploy` end to end.

- Redeploy under load: 20 connections keep asking an app for its layout while a new
  version is deployed; every request must succeed.

- Cold start: the app is stopped for being idle (scale to zero); the time from a callback
  sent to it until its answer (the front door holds the request while the app starts).
- CLI deploy: `dash-platform deploy` of a small app, warm build cache, as CI runs it (the
  realm's `dash-deploy` service user, client credentials), from the command to its exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.stack import BenchStack, say
from tests.hosting_client import callback_body, create_app, csrf_headers, deploy

__all__ = ["GOALS", "measure"]

GOALS = {"cold_start_s": 5.0, "cli_deploy_s": 15.0}
ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "apps" / "global-callback"


def _redeploy_under_load(stack: BenchStack, alice: requests.Session, slug: str) -> dict:
    """Requests answered and failed while ``slug`` is redeployed under 20 connections."""
    base = stack.url
    create_app(alice, base, slug, "Redeploy under load")
    deploy(alice, base, slug, APP)
    url, cookies = f"{base}/apps/{slug}/_dash-layout", alice.cookies.get_dict()
    stop, counts, lock = threading.Event(), {"ok": 0, "failed": 0}, threading.Lock()

    def hammer() -> None:
        with requests.Session() as session:
            session.cookies.update(cookies)
            while not stop.is_set():
                try:
                    ok = session.get(url, timeout=30).status_code == 200
                except requests.RequestException:
                    ok = False
                with lock:
                    counts["ok" if ok else "failed"] += 1

    threads = [threading.Thread(target=hammer) for _ in range(20)]
    for thread in threads:
        thread.start()
    try:
        deploy(alice, base, slug, APP)
        time.sleep(4)  # past the old version's drain and stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    return counts


def _cold_start(stack: BenchStack, alice: requests.Session, slug: str) -> float:
    base, api = stack.url, f"{stack.url}/api/apps/{slug}"
    create_app(alice, base, slug, "Cold start")
    first = deploy(alice, base, slug, APP)
    alice.patch(api, json={"idle_timeout_s": 10}, headers=csrf_headers(alice, base))
    alice.post(f"{api}/restart", headers=csrf_headers(alice, base))
    deadline = time.monotonic() + 90
    while alice.get(f"{api}/deployments/{first['id']}").json()["process"]["state"] != "STOPPED":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{slug} did not stop after 90 s idle")
        time.sleep(0.5)
    body = callback_body("gc-square", "children", [("gc-number", "value", 3)])
    started = time.monotonic()
    answer = alice.post(f"{base}/apps/{slug}/_dash-update-component", json=body, timeout=60)
    elapsed = time.monotonic() - started
    if answer.status_code != 200:
        raise RuntimeError(f"the woken app answered {answer.status_code}")
    return elapsed


def _cli_deploy(stack: BenchStack, slug: str) -> float:
    env = {
        **os.environ,
        "DASH_PLATFORM_URL": stack.url,
        "DASH_PLATFORM_KEYCLOAK_URL": stack.keycloak.base_url,
        "DASH_PLATFORM_CLIENT_ID": "dash-deploy",
        "DASH_PLATFORM_CLIENT_SECRET": "dash-deploy-dev-secret",
    }
    cli = str(Path(sys.executable).parent / "dash-platform")
    subprocess.run([cli, "create", slug], env=env, check=True, capture_output=True)
    deploy_command = [cli, "deploy", str(APP), "--app", slug]
    subprocess.run(deploy_command, env=env, check=True, capture_output=True)
    started = time.monotonic()  # the second deploy: its build cache is warm
    done = subprocess.run(deploy_command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"dash-platform deploy failed: {done.stderr.strip()[-500:]}")
    return elapsed


def measure(stack: BenchStack, alice: requests.Session) -> dict[str, Any]:
    """Both figures, printed; returns them for the summary."""
    load = _redeploy_under_load(stack, alice, "bench-redeploy")
    cold = _cold_start(stack, alice, "bench-cold")
    cli = _cli_deploy(stack, "bench-cli")
    say("\noperating an app")
    ok_load = "OK" if load["failed"] == 0 else "MISSED"
    say(
        f"   redeploy under 20 connections: {load['ok']} answered, {load['failed']} failed"
        f"  (goal 0 failed) {ok_load}"
    )
    ok_cold = "OK" if cold <= GOALS["cold_start_s"] else "MISSED"
    ok_cli = "OK" if cli <= GOALS["cli_deploy_s"] else "MISSED"
    say(f"   cold start from zero processes to the answer   {cold:5.1f} s  (goal <= 5 s) {ok_cold}")
    say(f"   dash-platform deploy, warm build cache         {cli:5.1f} s  (goal <= 15 s) {ok_cli}")
    return {"cold_start_s": cold, "cli_deploy_s": cli, "redeploy_failed": load["failed"]}
