"""Anonymous /login traffic against signed-in users (issue 12, findings 3 and 15).

One anonymous client floods ``GET /login`` through the front door with FLOOD_CONNECTIONS
connections (wrk, no cookies, so every request starts a new sign-in), while bob's
trivial signed-in callback is measured as in frontdoor.py. Rounds alternate the callback
alone and the callback under the flood (which goes first alternates too); the figure is
the median of the per-round ratios, goal >= GOAL_RATIO. Also reported: how fast the flood
ran and how many session rows it wrote (none: a visitor's sign-in lives in a cookie).

Run from bench_platform.py, or on its own with a small platform:

    .venv/bin/python -m bench.login_flood [--quick]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench import wrk
from bench.frontdoor import CONNECTIONS, session_cookie
from bench.stack import BenchStack, say
from tests.live_stack import HELLO_CALLBACK as CALLBACK

GOAL_RATIO = 0.90
FLOOD_CONNECTIONS = 4
ROUND_S = 2


def _session_rows(stack: BenchStack) -> int:
    database = stack.platform.layout.database
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        return db.execute("SELECT count(*) FROM sessions").fetchone()[0]


def _start_flood(url: str, seconds: float) -> subprocess.Popen:
    """wrk GETting /login for ``seconds`` (its 302s are answers, not errors)."""
    command = ["wrk", "-t1", f"-c{FLOOD_CONNECTIONS}", f"-d{seconds:.0f}s", url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _flood_rps(process: subprocess.Popen) -> float:
    out, _ = process.communicate(timeout=120)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out or "")
    if process.returncode != 0 or found is None:
        raise RuntimeError(f"the /login flood failed:\n{out}")
    return float(found.group(1))


def measure(
    stack: BenchStack, bob: requests.Session, slug: str, *, rounds: int, work: Path
) -> dict[str, float]:
    """Run the rounds, print them, return the figures for the summary."""
    front_url = f"{stack.url}/apps/{slug}/_dash-update-component"
    check = bob.post(front_url, json=CALLBACK, timeout=30)
    if check.status_code != 200 or "you are bob" not in check.text:
        raise RuntimeError(f"bob's callback via the front door: {check.status_code} {check.text}")
    script = wrk.post_script(work, CALLBACK, session_cookie(bob))
    wrk.run(front_url, script, seconds=2, connections=CONNECTIONS)  # warm-up
    alone: list[wrk.WrkRun] = []
    flooded: list[wrk.WrkRun] = []
    flood_rates: list[float] = []
    rows_before, flood_seconds = _session_rows(stack), 0.0
    for number in range(rounds):
        for under_flood in (False, True) if number % 2 == 0 else (True, False):
            if not under_flood:
                alone.append(wrk.run(front_url, script, seconds=ROUND_S, connections=CONNECTIONS))
                continue
            flood = _start_flood(f"{stack.url}/login", ROUND_S + 1)
            time.sleep(0.5)  # the flood is under way before the measurement starts
            flooded.append(wrk.run(front_url, script, seconds=ROUND_S, connections=CONNECTIONS))
            flood_rates.append(_flood_rps(flood))
            flood_seconds += ROUND_S + 1
    rows_written = _session_rows(stack) - rows_before
    ratios = [f.rps / a.rps for f, a in zip(flooded, alone, strict=True)]
    ratio = statistics.median(ratios)
    normal = statistics.median(r.rps for r in alone)
    under = statistics.median(r.rps for r in flooded)
    flood_rps = statistics.median(flood_rates)
    print(
        f"\nanonymous /login flood: wrk -t1 -c{FLOOD_CONNECTIONS} GET /login (no cookies) "
        f"against bob's signed-in callback (c={CONNECTIONS}), {rounds} alternating "
        f"{ROUND_S} s rounds"
    )
    print(f"   {'':38s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for label, runs in (("callback alone", alone), ("callback under the /login flood", flooded)):
        p50 = statistics.median(r.p50_ms for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        print(f"   {label:38s} {statistics.median(r.rps for r in runs):8.0f} {p50:8.2f} {p99:8.2f}")
    print(
        f"   the flood: {flood_rps:.0f} /login req/s; session rows written: {rows_written} "
        f"({rows_written / flood_seconds:.1f}/s)"
    )
    verdict = "OK" if ratio >= GOAL_RATIO else "MISSED"
    print(
        f"   ratio under flood / alone, median of rounds  {ratio:.2f}  "
        f"(range {min(ratios):.2f}-{max(ratios):.2f}; goal >= {GOAL_RATIO}) {verdict}"
    )
    return {
        "login_flood_ratio": ratio,
        "login_flood_normal_rps": normal,
        "login_flood_under_rps": under,
        "login_flood_rps": flood_rps,
        "login_flood_rows": float(rows_written),
    }


def main() -> int:
    """On its own: a small platform (1,000 sales rows), the bench app, the rounds."""
    import shutil
    import tempfile

    from bench.bench_platform import BENCH_SLUG, bundle, timed_deploy
    from bench.stack import platform_stack
    from tests.hosting_client import create_app, set_access
    from tests.oidc_flow import login

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    if not wrk.available():
        say(wrk.MISSING)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-work-"))
    try:
        with platform_stack({"SALES_ROWS": "1000"}) as stack:
            say(f"platform up in {stack.started_s:.0f} s at {stack.url}")
            alice, bob = login(stack.url, "alice"), login(stack.url, "bob")
            create_app(alice, stack.url, BENCH_SLUG, "Bench: trivial callback")
            set_access(alice, stack.url, BENCH_SLUG, "authenticated")
            timed_deploy(stack, alice, BENCH_SLUG, bundle(work, "plain", "dash==4.4.1\n"))
            figures = measure(stack, bob, BENCH_SLUG, rounds=10 if args.quick else 24, work=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if figures["login_flood_ratio"] >= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
