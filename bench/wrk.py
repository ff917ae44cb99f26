"""Running wrk against a Dash callback and reading its throughput and latency percentiles.

wrk runs with one thread pinned to the last CPU (taskset), so it takes the same share of
the machine in every run; ``--latency`` gives the p50 and p99 of each run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MISSING = (
    "wrk is not installed, so the front-door throughput cannot be measured.\n"
    "Install it (Debian: apt-get update && apt-get install -y wrk) and run the bench again."
)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
# "Latency   2.35ms    1.20ms  20.00ms   90.00%": average, stdev, max, +/- stdev
_MAX = re.compile(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)\s", re.M)


def available() -> bool:
    """Whether wrk is on PATH."""
    return shutil.which("wrk") is not None


@dataclass(frozen=True)
class WrkRun:
    """One wrk run: requests per second, latency percentiles and maximum in ms."""

    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def post_script(work: Path, body: dict[str, Any], cookie: str | None) -> Path:
    """A wrk Lua script that POSTs ``body`` as JSON (with ``cookie`` when given)."""
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = {json.dumps(json.dumps(body))}",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if cookie:
        lines.append(f'wrk.headers["Cookie"] = {json.dumps(cookie)}')
    script = work / f"post-{'cookie' if cookie else 'bare'}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def parse(out: str, url: str) -> WrkRun:
    """Throughput and p50/p99 from wrk's --latency output; errors end the bench."""
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    found = {q: float(v) * _UNITS[unit] for q, v, unit in _PERCENTILE.findall(out)}
    top = _MAX.search(out)
    if rps is None or top is None or set(found) != {"50", "99"}:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    worst = float(top.group(1)) * _UNITS[top.group(2)]
    return WrkRun(float(rps.group(1)), found["50"], found["99"], worst)


def run(url: str, script: Path, *, seconds: int, connections: int) -> WrkRun:
    """One wrk run of ``seconds`` with ``connections`` connections on one thread."""
    cpus = os.cpu_count() or 1
    pin = ["taskset", "-c", str(cpus - 1)] if shutil.which("taskset") and cpus > 1 else []
    command = [*pin, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    done = subprocess.run(
        [*command, "-s", str(script), url], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout, url)
