"""Front-door throughput: a trivial signed-in callback through nginx, against the same app bare.

The app is bench/bare_app.py deployed as a bundle. The bare baseline is the very gunicorn
command the platform runs for it (same venv, gthread, 2 workers x 4 threads, --preload, same
flags, same environment read from /proc of the platform's process), bound to a TCP port
instead of its unix socket and started without the isolation prefix (bwrap, own uid).

On a small virtual machine the speed of the CPU drifts by 10-20 % from one second to the
next, so the bench runs many one-second rounds, each measuring both back to back (which one
goes first alternates), and takes the median of the per-round ratios: a round's two halves
see the same drift, and the median ignores rounds a neighbour on the host disturbed.

A round's throughput also depends on luck: how wrk's 8 new connections spread over
gunicorn's two workers (a worker holding most of them serves them with its 4 threads while
the other idles), which moves the bare app by up to 2x from one round to the next. So the
bench also adds up the CPU time every part used over all the rounds, per request: nginx,
the portal's answers to nginx, and the app through the front door, against the bare app.
When the CPU is the limit, as here, the ratio of those costs is the ratio of throughputs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench import wrk
from bench.stack import (
    BenchStack,
    cmdline,
    cpu_seconds,
    descendants,
    environ,
    gunicorn_master,
    program_pids,
)
from tests.live_stack import HELLO_CALLBACK as CALLBACK
from tests.live_stack import free_port

GOAL_RATIO = 0.85
CONNECTIONS = 8
SUSTAINED_S = 5


@dataclass(frozen=True)
class Rounds:
    """Interleaved rounds of the bare app and the front door."""

    bare: list[wrk.WrkRun]
    front: list[wrk.WrkRun]

    def ratio(self) -> float:
        return statistics.median(f.rps / b.rps for f, b in zip(self.front, self.bare, strict=True))

    def added(self, field: str) -> float:
        """Median over rounds of (front door - bare) for a latency field, in ms."""
        pairs = zip(self.front, self.bare, strict=True)
        return statistics.median(getattr(f, field) - getattr(b, field) for f, b in pairs)


def session_cookie(session: requests.Session) -> str:
    """The portal's session cookie as a Cookie header (Keycloak's own cookies left out)."""
    for cookie in session.cookies:
        if cookie.name == "dash_portal_session":
            return f"{cookie.name}={cookie.value}"
    raise RuntimeError("the signed-in session has no dash_portal_session cookie")


def _app_program_pid(stack: BenchStack, slug: str) -> int:
    running = program_pids(stack.platform)
    programs = [name for name in running if name.startswith(f"app-{slug}-")]
    if not programs:
        raise RuntimeError(f"no running program of {slug}")
    return running[max(programs, key=lambda name: int(name.rsplit("-", 1)[1]))]  # active


@dataclass
class CpuMeter:
    """CPU time used by each part serving one target, and the requests it served.

    CPU time per request does not depend on how a round's connections happened to spread
    over gunicorn's two workers, which moves a 1 s round's throughput by up to 2x here.
    """

    parts: dict[str, list[int]]
    used: dict[str, float] = field(default_factory=dict)
    requests: float = 0.0

    def run(self, url: str, script: Path, *, seconds: int, connections: int) -> wrk.WrkRun:
        before = {name: cpu_seconds(pids) for name, pids in self.parts.items()}
        run = wrk.run(url, script, seconds=seconds, connections=connections)
        for name, pids in self.parts.items():
            self.used[name] = self.used.get(name, 0.0) + cpu_seconds(pids) - before[name]
        self.requests += run.rps * seconds
        return run

    def per_request_us(self) -> dict[str, float]:
        return {name: used / self.requests * 1e6 for name, used in self.used.items()}


def serve_bare(stack: BenchStack, slug: str, port: int, log: Path) -> subprocess.Popen:
    """The platform's gunicorn command for ``slug``, bound to 127.0.0.1:``port``."""
    master = gunicorn_master(_app_program_pid(stack, slug))
    argv, env = cmdline(master), environ(master)
    bind = argv.index("--bind") + 1
    argv[bind] = f"127.0.0.1:{port}"
    chdir = argv[argv.index("--chdir") + 1]
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, cwd=chdir, stdout=out, stderr=subprocess.STDOUT)


def _wait_answer(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bare gunicorn exited:\n{log.read_text()[-2000:]}")
        try:
            if requests.post(url, json=CALLBACK, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the bare gunicorn does not answer at {url}")


def _interleaved(
    targets: tuple[tuple[str, Path], tuple[str, Path]],
    rounds: int,
    connections: int,
    meters: tuple[CpuMeter, CpuMeter] | None = None,
) -> Rounds:
    (bare_url, bare_script), (front_url, front_script) = targets
    bare, front = [], []
    run_bare = meters[0].run if meters else wrk.run
    run_front = meters[1].run if meters else wrk.run
    for number in range(rounds):
        order = [0, 1] if number % 2 == 0 else [1, 0]
        for which in order:
            if which == 0:
                bare.append(run_bare(bare_url, bare_script, seconds=1, connections=connections))
            else:
                front.append(run_front(front_url, front_script, seconds=1, connections=connections))
    return Rounds(bare, front)


def measure(
    stack: BenchStack,
    bob: requests.Session,
    slug: str,
    *,
    rounds: int,
    quiet_rounds: int,
    work: Path,
) -> dict[str, float]:
    """Run the comparison, print it, return the figures for the summary."""
    front_url = f"{stack.url}/apps/{slug}/_dash-update-component"
    check = bob.post(front_url, json=CALLBACK, timeout=30)
    if check.status_code != 200 or "you are bob" not in check.text:
        raise RuntimeError(f"bob's callback via the front door: {check.status_code} {check.text}")
    port, log = free_port(), work / "bare-gunicorn.log"
    bare_url = f"http://127.0.0.1:{port}/apps/{slug}/_dash-update-component"
    load = os.getloadavg()
    process = serve_bare(stack, slug, port, log)
    try:
        _wait_answer(bare_url, process, log)
        targets = (
            (bare_url, wrk.post_script(work, CALLBACK, None)),
            (front_url, wrk.post_script(work, CALLBACK, session_cookie(bob))),
        )
        for url, script in targets:  # warm-up
            wrk.run(url, script, seconds=2, connections=CONNECTIONS)
        platform = stack.platform
        meters = (
            CpuMeter({"app": descendants(process.pid)}),
            CpuMeter(
                {
                    "nginx": descendants(platform.frontdoor.pid() or -1),
                    "portal": descendants(platform.portal_running() or -1),
                    "app": descendants(_app_program_pid(stack, slug)),
                }
            ),
        )
        loaded = _interleaved(targets, rounds, CONNECTIONS, meters)
        quiet = _interleaved(targets, quiet_rounds, 1)
        # One longer run each: the auth cache (1 s) expires several times under load.
        steady = [
            wrk.run(url, s, seconds=SUSTAINED_S, connections=CONNECTIONS) for url, s in targets
        ]
    finally:
        process.terminate()
        process.wait(timeout=30)
    ratio = loaded.ratio()
    ratios = sorted(f.rps / b.rps for f, b in zip(loaded.front, loaded.bare, strict=True))
    low, _, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3

    def med(runs: list[wrk.WrkRun], field: str) -> float:
        return statistics.median(getattr(r, field) for r in runs)

    print(
        f"\nfront door throughput: trivial callback, gunicorn gthread 2 workers x 4 threads "
        f"--preload, wrk -t1, {rounds} + {quiet_rounds} interleaved 1 s rounds"
    )
    print(
        "   bare = the platform's own gunicorn command and environment for this app, on TCP "
        "instead of its unix socket, without the sandbox; load average before: "
        + " ".join(f"{x:.1f}" for x in load)
    )
    print(f"   {'':38s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s}")
    for label, runs in (
        (f"bare gunicorn, TCP (c={CONNECTIONS})", loaded.bare),
        (f"front door, bob signed in (c={CONNECTIONS})", loaded.front),
        ("bare gunicorn, TCP (c=1)", quiet.bare),
        ("front door, bob signed in (c=1)", quiet.front),
    ):
        rps, p50, p99 = med(runs, "rps"), med(runs, "p50_ms"), med(runs, "p99_ms")
        worst = max(r.max_ms for r in runs)
        print(f"   {label:38s} {rps:8.0f} {p50:8.2f} {p99:8.2f} {worst:8.1f}")
    for label, run in zip(("bare", "front door"), steady, strict=True):
        label = f"{label}, one {SUSTAINED_S} s run (c={CONNECTIONS})"
        print(
            f"   {label:38s} {run.rps:8.0f} {run.p50_ms:8.2f} {run.p99_ms:8.2f} {run.max_ms:8.1f}"
        )
    bare_cpu, front_cpu = (meter.per_request_us() for meter in meters)
    bare_total, front_total = sum(bare_cpu.values()), sum(front_cpu.values())
    print(
        f"   CPU per request, c={CONNECTIONS} rounds (µs): bare app {bare_total:.0f}; front "
        + ", ".join(f"{name} {used:.0f}" for name, used in front_cpu.items())
        + f", total {front_total:.0f}; bare / front = {bare_total / front_total:.2f} "
        "(the throughput ratio when the CPU is the limit)"
    )
    verdict = "OK" if ratio >= GOAL_RATIO else "MISSED"
    print(f"   ratio front/bare, median of rounds  {ratio:.2f}  (goal >= {GOAL_RATIO}) {verdict}")
    spread = f"quartiles {low:.2f}-{high:.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}"
    print(f"   per-round ratios: {spread}")
    print("   (req/s, p50, p99: medians over rounds; max: the worst single request of all rounds)")
    added = {
        "added_p50_ms": loaded.added("p50_ms"),
        "added_p99_ms": loaded.added("p99_ms"),
        "added_p50_c1_ms": quiet.added("p50_ms"),
        "added_p99_c1_ms": quiet.added("p99_ms"),
    }
    print(
        f"   latency added (median of per-round differences): c={CONNECTIONS} "
        f"p50 {added['added_p50_ms']:+.2f} ms, p99 {added['added_p99_ms']:+.2f} ms; "
        f"c=1 p50 {added['added_p50_c1_ms']:+.2f} ms, p99 {added['added_p99_c1_ms']:+.2f} ms"
    )
    return {
        "cpu_ratio": bare_total / front_total,
        "bare_rps": med(loaded.bare, "rps"),
        "front_rps": med(loaded.front, "rps"),
        "ratio": ratio,
        **added,
    }
