"""The apps registered on first start (the contract's table), added idempotently.

Seeding only adds apps that are missing: an app an owner has since edited keeps its
settings, and running it twice (or in two workers) never duplicates anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.unit_of_work import unit_of_work
from roles import AccessLevel

from .models import App
from .policy import current_policy, stricter_allowed
from .writes import insert_app

__all__ = ["DEFAULT_APPS", "SEED_ACTOR", "seed_default_apps"]

SEED_ACTOR = "system"

#: The contract's "Apps registered on first start".
DEFAULT_APPS: tuple[Mapping[str, Any], ...] = (
    {
        "slug": "sales",
        "owner": "alice",
        "title": "Sales",
        "description": "Sales by region, salesman and product. Each viewer sees only the "
        "rows they are allowed to see.",
        "tags": ("sales", "row-level security"),
        "access": AccessLevel.RESTRICTED,
        "viewer_groups": ("/sales",),
    },
    {
        "slug": "hello",
        "owner": "admin",
        "title": "Hello",
        "description": "Greets whoever is signed in, with their roles and groups.",
        "tags": ("demo",),
        "access": AccessLevel.AUTHENTICATED,
    },
    {
        "slug": "public",
        "owner": "admin",
        "title": "Public",
        "description": "Open to everyone, signed in or not.",
        "tags": ("demo", "public"),
        "access": AccessLevel.UNAUTHENTICATED,
    },
    {
        "slug": "finance",
        "owner": "erin",
        "title": "Finance",
        "description": "Finance figures for the members of /finance.",
        "tags": ("finance",),
        "access": AccessLevel.RESTRICTED,
        "viewer_groups": ("/finance",),
    },
)


def seed_default_apps(apps: tuple[Mapping[str, Any], ...] = DEFAULT_APPS) -> list[str]:
    """Register every app of ``apps`` not registered yet; returns the slugs added.

    One transaction: either every missing app is added or none is. An access level the
    portal's policy forbids is narrowed to the nearest allowed one instead of failing.
    """
    added: list[str] = []
    with unit_of_work():
        existing = set(db.session.execute(select(App.slug)).scalars())
        allowed = current_policy().allowed_access_levels
        for spec in apps:
            if spec["slug"] in existing:
                continue
            values = {k: v for k, v in spec.items() if k != "slug"}
            values["access"] = stricter_allowed(AccessLevel(values["access"]), allowed)
            insert_app(spec["slug"], actor=SEED_ACTOR, action="app.seed", **values)
            added.append(spec["slug"])
    return added
