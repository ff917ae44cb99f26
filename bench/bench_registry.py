"""Speed of the registry's hot paths, on SQLite in a temporary directory.

1,000 registered apps with grants to 100 groups (10 departments x 10 teams; each app
grants 1-4 groups or departments, some co-owner groups, a few users). Measures, for a
licensed user in 5 groups:

- ``apps_visible_to(user)``: the portal's list, warm cache (goal: p50 <= 20 ms);
- the same right after a registry write (the cache reloads every app once; the
  write itself is not timed);
- ``GET /api/apps`` end to end through Flask (JSON included);
- ``get_app(slug)``: the guard's per-request lookup, warm and after a write;
- the naive list (``roles.can_view`` on every app) for comparison.

Usage: ``python -m bench.bench_registry [--quick] [--apps N] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, g
from sqlalchemy import insert

from portal import errors, registry
from portal.api import apps as apps_api
from portal.extensions import db, migrate
from portal.identity import User
from portal.registry.models import App, AppGrant, utcnow
from portal.registry.store import bump_version, registry_version
from portal.services import Services
from portal.settings import Settings
from portal.unit_of_work import unit_of_work
from roles import can_view

GROUPS = [f"/dept{d}/team{t}" for d in range(10) for t in range(10)]
DEPARTMENTS = [f"/dept{d}" for d in range(10)]
USERS = [f"user{i}" for i in range(500)]


def build_app(data_dir: Path, database_url: str) -> Flask:
    settings = Settings.from_env(data_dir=data_dir, seed_apps=False, database_url=database_url)
    app = Flask("bench-registry")
    app.config.update(SQLALCHEMY_DATABASE_URI=settings.database_url, SECRET_KEY=settings.secret_key)
    Services(settings).init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(registry.MIGRATIONS_DIR))
    errors.init_app(app)
    registry.init_app(app)
    app.register_blueprint(apps_api.bp)
    with app.app_context():
        registry.upgrade_database()  # `flask db upgrade`
    return app


def populate(count: int, rng: random.Random) -> None:
    """``count`` apps with grants, written in bulk (Core inserts: setup speed only)."""
    now = utcnow()
    levels = ["restricted"] * 7 + ["authenticated"] * 2 + ["unauthenticated"]
    apps = [
        {
            "id": i + 1,
            "slug": f"app-{i:04d}",
            "title": f"App {i:04d}",
            "description": "A benchmark app.",
            "tags": ["bench", f"t{i % 7}"],
            "owner": rng.choice(USERS[:50]),
            "access": rng.choice(levels),
            "visible_in_portal": rng.random() > 0.05,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    grants = []
    for app in apps:
        viewers = rng.sample(GROUPS, rng.randint(1, 3)) + rng.sample(DEPARTMENTS, rng.randint(0, 1))
        for path in viewers:
            grants.append(("viewer", "group", path, app["id"]))
        for name in rng.sample(USERS, 3):
            grants.append(("viewer", "user", name, app["id"]))
        if rng.random() < 0.3:
            grants.append(("co_owner", "group", rng.choice(GROUPS), app["id"]))
        grants.append(("co_owner", "user", rng.choice(USERS[:50]), app["id"]))
    rows = [
        {"app_id": a, "relation": r, "principal_type": k, "principal": p} for r, k, p, a in grants
    ]
    with unit_of_work():
        db.session.execute(insert(App), apps)
        db.session.execute(insert(AppGrant), rows)
        bump_version()
    print(f"registered {count} apps with {len(rows)} grants to {len(GROUPS)} groups")


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall times of ``runs`` calls, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float], unit: str = "ms") -> float:
    scale = 1e3 if unit == "ms" else 1e6
    ordered = sorted(times)
    p50 = statistics.median(ordered) * scale
    p95 = ordered[int(len(ordered) * 0.95) - 1] * scale
    print(f"  {label:<52} p50 {p50:9.1f} {unit}   p95 {p95:9.1f} {unit}   (n={len(times)})")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (CI smoke)")
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    args = parser.parse_args()
    runs = 20 if args.quick else 200
    rng = random.Random(7)
    user = User(
        sub="bench",
        username="user7",
        roles=frozenset({"viewer", "licensed_user"}),
        groups=frozenset(rng.sample(GROUPS, 5)),
    )
    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), args.database_url)

        @app.before_request
        def _bench_identity() -> None:  # bench only: a fixed identity, no sign-in
            g.user = user

        with app.app_context():
            populate(args.apps, rng)
            visible = registry.apps_visible_to(user)
            print(f"user in 5 groups may open {len(visible)} of {args.apps} apps\n")
            print("portal list")
            p50 = report(
                "apps_visible_to(user), warm", timed(lambda: registry.apps_visible_to(user), runs)
            )

            reloads: list[float] = []
            for _ in range(max(5, runs // 4)):
                with unit_of_work():
                    bump_version()
                reloads += timed(lambda: registry.apps_visible_to(user), 1)
            report("apps_visible_to(user), first call after a write", reloads)
            every = registry.list_apps()
            report(
                "naive: roles.can_view on every app (comparison)",
                timed(
                    lambda: [r for r in every if r.visible_in_portal and can_view(user, r)], runs
                ),
            )
            print("\nguard lookup")
            report("registry_version() alone", timed(registry_version, runs * 10), "us")
            report(
                "get_app(slug), warm", timed(lambda: registry.get_app("app-0500"), runs * 10), "us"
            )

            cold: list[float] = []
            for _ in range(runs):
                with unit_of_work():
                    bump_version()
                cold += timed(lambda: registry.get_app("app-0500"), 1)
            report("get_app(slug), first call after a write", cold, "us")
            db.session.remove()
        client = app.test_client()
        print("\nHTTP")
        report(
            "GET /api/apps (test client, JSON included)",
            timed(lambda: client.get("/api/apps"), runs),
        )
    verdict = "OK" if p50 <= 20 else "TOO SLOW"
    print(f"\napps_visible_to p50 {p50:.1f} ms (goal <= 20 ms): {verdict}")


if __name__ == "__main__":
    main()
