"""Benchmark the sales app's callbacks in-process, beside the naive approach.

    .venv/bin/python -m bench.bench_sales               # 1,000,000 rows
    .venv/bin/python -m bench.bench_sales --rows 10000000
    .venv/bin/python -m bench.bench_sales --quick       # fewer iterations

The app is built as the platform builds it (under ``/apps/sales/``) and called in-process
through its own Flask server, with the ``Plotly-User-Data`` header the platform's front door
sets for the person being measured. Each measurement is the whole callback path: a test
client POSTs the same ``/_dash-update-component`` body the browser sends, Dash dispatches
it, the callback derives the rows from ``current_user()``, computes, renders and serialises
the answer.

"cold" requests change the date range every time, so no result cache can answer them;
"warm" requests repeat one body. "naive" is a boolean mask over the whole frame, pandas
group-bys and plotly.express figures, as a straightforward app would do it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from dash_appkit.identity import USER_HEADER, User

from portal.callback_body import callback_body

ROOT = Path(__file__).resolve().parent.parent

PREFIX = "/apps/sales/"


def person(name: str, roles: str, groups: str = "") -> User:
    return User(username=name, roles=frozenset(roles.split()), groups=frozenset(groups.split()))


def front_door_headers(user: User) -> dict[str, str]:
    """The identity header the platform's front door hands the app."""
    data = {"username": user.username, "roles": sorted(user.roles), "groups": sorted(user.groups)}
    return {USER_HEADER: json.dumps(data)}


USERS = {
    "bob": person("bob", "viewer", "/sales/east"),
    "carol": person("carol", "viewer", "/sales/east/managers"),
    "admin": person("admin", "admin licensed_user viewer"),
}


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def timed(fn: Callable[[int], object], n: int, warmup: int = 3) -> list[float]:
    for i in range(warmup):
        fn(-1 - i)
    gc.collect()
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
        if len(values) > 1
        else values[0]
    )


class Bench:
    def __init__(self, rows: int, data_dir: Path):
        from app.sales.salesapp import SalesConfig, create_app

        # Dash reads the prefix from the environment, as on the platform.
        os.environ["DASH_ROUTES_PATHNAME_PREFIX"] = PREFIX
        os.environ["DASH_REQUESTS_PATHNAME_PREFIX"] = PREFIX
        start = time.perf_counter()
        self.app = create_app(SalesConfig(rows=rows, data_dir=data_dir))
        self.startup_s = time.perf_counter() - start
        self.client = self.app.server.test_client()
        self.callbacks = {k.split(".")[2]: k for k in self.app.callback_map}  # first output id
        self.headers = {name: front_door_headers(user) for name, user in USERS.items()}

    def post(self, who: str, first_output: str, values: dict[str, object], changed=()) -> int:
        output = self.callbacks[first_output]
        body = callback_body(self.app.callback_map, output, values, changed=changed)
        answer = self.client.post(
            f"{PREFIX}_dash-update-component", json=body, headers=self.headers[who]
        )
        assert answer.status_code == 200, answer.data[:200]
        return len(answer.data)


def dashboard_values(day: int, products=None) -> dict[str, object]:
    first = dt.date(2025, 1, 1) - dt.timedelta(days=day % 700)
    return {
        "date-range.start_date": first.isoformat(),
        "date-range.end_date": "2025-12-31",
        "product.value": products,
    }


def naive(frame, user: str, day: int):
    """The straightforward way: mask the whole frame, group, plotly.express, serialise."""
    import plotly.express as px

    first = dt.datetime(2025, 1, 1) - dt.timedelta(days=day % 700)
    keep = frame["date"].between(first, dt.datetime(2025, 12, 31))
    if user == "bob":
        keep &= frame["salesman"] == "bob"
    elif user == "carol":
        keep &= frame["region"] == "east"
    rows = frame[keep]
    kpis = (rows["amount"].sum(), rows["units"].sum(), len(rows))
    weekly = rows.groupby([rows["date"].dt.to_period("W").dt.start_time, "region"], observed=True)[
        "amount"
    ].sum()
    products = rows.groupby("product", observed=True)["amount"].sum().sort_values()
    customers = rows.groupby("customer", observed=True)["amount"].sum().nlargest(10)
    figures = [
        px.area(weekly.reset_index(), x="date", y="amount", color="region"),
        px.bar(products.reset_index(), x="amount", y="product", orientation="h"),
        px.bar(customers.reset_index(), x="amount", y="customer", orientation="h"),
    ]
    return kpis, [f.to_json() for f in figures]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var")
    args = parser.parse_args()
    n = 30 if args.quick else 200
    results: list[tuple[str, list[float]]] = []

    def measure(name: str, fn: Callable[[int], object], count: int, warmup: int = 3) -> None:
        results.append((name, timed(fn, count, warmup)))

    base_rss, _ = rss_mb()
    bench = Bench(args.rows, args.data_dir)
    loaded_rss, _ = rss_mb()
    dash, table = "scope-banner", "table"  # the first output of each callback
    two = ["Cloud Pro", "Training Day"]
    by_amount = {"table.sort_by": [{"column_id": "amount", "direction": "desc"}]}
    for who in ("bob", "carol", "admin"):
        measure(
            f"dashboard {who} cold", lambda i, w=who: bench.post(w, dash, dashboard_values(i)), n
        )
        measure(
            f"dashboard {who} warm", lambda i, w=who: bench.post(w, dash, dashboard_values(0)), n
        )
        measure(
            f"dashboard {who} cold + product filter",
            lambda i, w=who: bench.post(w, dash, dashboard_values(i, two)),
            n,
        )
    for who in ("bob", "admin"):
        measure(
            f"table {who} newest first, cold",
            lambda i, w=who: bench.post(w, table, dashboard_values(i)),
            n,
        )
        measure(
            f"table {who} by amount, page 3, cold",
            lambda i, w=who: bench.post(
                w,
                table,
                {**dashboard_values(i), **by_amount, "table.page_current": 3},
                ["table.page_current"],
            ),
            max(n // 4, 5),
        )
    measure(
        "export.csv bob (all dates)",
        lambda i: bench.client.get(f"{PREFIX}export.csv", headers=bench.headers["bob"]).data,
        max(n // 10, 3),
        1,
    )
    after_rss, peak_rss = rss_mb()

    from app.sales.salesapp import data as sales_data

    frame = sales_data.load(args.data_dir, args.rows).frame
    for who in ("bob", "admin"):
        measure(
            f"naive {who}: mask + groupby + plotly.express",
            lambda i, w=who: naive(frame, w, i),
            5 if args.quick else 20,
            1,
        )
    if not args.quick:
        from app.sales.salesapp.policy import SALES_POLICY
        from app.sales.salesapp.queries import Filters
        from app.sales.salesapp.sql import SqlEngine

        duck = SqlEngine.duckdb(sales_data.data_path(args.data_dir, args.rows))
        for who in ("bob", "admin"):
            allowed = SALES_POLICY.evaluate(USERS[who])

            def query(i: int, a=allowed) -> object:
                return duck.summary(a, Filters.parse(*dashboard_values(i).values()))

            measure(f"duckdb engine summary {who} (not the app path)", query, 10, 1)

    mode = "quick" if args.quick else "full"
    print(f"\nsales bench: {args.rows:,} rows, {mode} run; times in ms (whole callback path)")
    print(f"start-up (generate on first run, load, index): {bench.startup_s:.2f} s")
    print(f"{'measurement':48s} {'n':>5s} {'p50':>9s} {'p95':>9s} {'max':>9s}")
    print("-" * 84)
    for name, v in results:
        print(f"{name:48s} {len(v):5d} {p(v, 50):9.2f} {p(v, 95):9.2f} {max(v):9.2f}")
    print("-" * 84)
    print(
        f"RSS: {base_rss:.0f} MB before the app, {loaded_rss:.0f} MB with the app and data loaded, "
        f"{after_rss:.0f} MB after its requests (peak {peak_rss:.0f} MB); measured before "
        "the naive runs and DuckDB"
    )


if __name__ == "__main__":
    main()
