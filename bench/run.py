"""`make bench`: every benchmark of the platform, one after the other.

Speed goals live here, not in tests:

- bench_registry.py: the portal's app list with 1,000 apps (in-process);
- bench_sales.py: the sales app's callbacks at 1M rows (in-process, no HTTP);
- bench_platform.py: the live platform (Keycloak, supervisord, apps, portal, nginx):
  front-door throughput against the same app bare, the sales callback through the front
  door at 1M rows, deploy time, and the memory of the platform's processes;
- bench_scale.py: the platform at scale (two portal replicas on PostgreSQL and Redis, two
  Keycloak nodes): 200 sessions at 100 callbacks/s, saturation, a Keycloak node and
  PostgreSQL restarted under load.

Pass --quick for a shorter run (fewer rounds and calls; never fewer sales rows).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import wrk

BENCHES = ["bench_registry", "bench_sales", "bench_platform", "bench_scale"]


def main() -> int:
    extra = sys.argv[1:]
    root = Path(__file__).resolve().parent.parent
    if not wrk.available():
        print(wrk.MISSING, flush=True)
    failed = []
    for name in BENCHES:
        print(f"\n===== {name} =====", flush=True)
        done = subprocess.run([sys.executable, "-m", f"bench.{name}", *extra], cwd=root)
        if done.returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
