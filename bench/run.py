"""`make bench`: every benchmark of the platform, one after the other.

Speed goals live here, not in tests: the guard's throughput against a bare Dash app,
the portal's app list with 1,000 apps, and the sales app's callbacks at 1M rows.
Pass --quick for a shorter run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = ["bench_registry.py", "bench_sales.py", "bench_guard.py"]


def main() -> int:
    extra = sys.argv[1:]
    here = Path(__file__).resolve().parent
    failed = []
    for name in BENCHES:
        print(f"\n===== {name} =====", flush=True)
        done = subprocess.run([sys.executable, str(here / name), *extra], cwd=here.parent)
        if done.returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
