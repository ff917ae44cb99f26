"""Who sees which sales rows, and the admin's "view as".

The row rules are the contract's: a holder of ``admin`` sees every row, a member of
``/sales/<region>/managers`` every row of <region>, a salesman (member of ``/sales/<region>``)
the rows whose salesman is their username; everyone else none. Who is an admin here is the
platform's permission table (``roles.py``, shipped in the app library as
:mod:`dash_appkit.roles`): ``Action.VIEW_DATA_AS_OTHERS`` grants every row and "view as".
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from dash_appkit import platform
from dash_appkit.identity import User, current_user
from dash_appkit.names import normalize_group, normalize_username
from dash_appkit.rls import (
    ALL_ROWS,
    AllowedRows,
    RowPolicy,
    Rule,
    allowed_to,
    column_equals,
    in_group_pattern,
)
from dash_appkit.roles import Action, can

__all__ = [
    "ALL_ROWS_EVENT",
    "NO_ROWS_MESSAGE",
    "SALES_POLICY",
    "Scope",
    "ViewAs",
    "may_view_as_others",
    "view_as_choices",
]

logger = logging.getLogger(__name__)

#: Columns a rule or a filter may constrain (the SQL identifier allowlist).
POLICY_COLUMNS = ("region", "salesman", "product")

SALES_POLICY = RowPolicy(
    name="sales",
    columns=POLICY_COLUMNS,
    rules=[
        Rule(
            name="admin",
            when=allowed_to(Action.VIEW_DATA_AS_OTHERS),
            allow=ALL_ROWS,
            label="All regions (admin)",
            final=True,
        ),
        Rule(
            name="regional manager",
            when=in_group_pattern("/sales/{region}/managers"),
            allow=column_equals("region", from_group="region"),
            label=lambda user, found: f"{found['region'].capitalize()} region",
        ),
        Rule(
            name="salesman",
            when=in_group_pattern("/sales/{region}"),
            allow=column_equals("salesman", from_user="username"),
            label="Your sales",
        ),
    ],
    none_label="No sales rows",
)

#: The audit event of an admin seeing every row (the platform takes ``app.*`` events).
ALL_ROWS_EVENT = "app.view_all_rows"

NO_ROWS_MESSAGE = (
    "You have no sales rows. Sales data is shown to salesmen, regional managers "
    "(/sales/<region>/managers) and admins; ask your administrator to add you to the "
    "group of your region if you should see it."
)


@dataclass(frozen=True)
class Scope:
    """The rows one request may read, and how to say so."""

    user: User
    allowed: AllowedRows
    viewing_as: str | None = None  # "bob" or "/sales/east/managers" when an admin views as
    view_as_value: str | None = None  # the same as a view-as value: "user:bob"

    @property
    def banner(self) -> str:
        if self.viewing_as:
            return f"Viewing as {self.viewing_as}"
        return self.allowed.label

    @property
    def detail(self) -> str:
        if self.viewing_as:
            label = self.allowed.label
            return f"{self.viewing_as}'s sales" if label == "Your sales" else label
        return f"Signed in as {self.user.username}"


def may_view_as_others(user: User | None) -> bool:
    """Whether ``user`` may pick "view as" (see another person's or group's rows)."""
    return can(user, Action.VIEW_DATA_AS_OTHERS)


def view_as_choices(region_of: dict[str, str]) -> list[dict[str, str]]:
    """Dropdown options: every salesman with rows, then every regional managers group."""
    demo_first = sorted(region_of, key=lambda name: (name.startswith("s-"), name))
    users = [{"label": f"User: {name}", "value": f"user:{name}"} for name in demo_first]
    groups = [
        {"label": f"Group: /sales/{r}/managers", "value": f"group:/sales/{r}/managers"}
        for r in sorted(set(region_of.values()))
    ]
    return users + groups


def _target(value: str, region_of: dict[str, str]) -> tuple[str, str, User] | None:
    """``(canonical value, name, identity)`` a view-as value stands for; ``None``: nobody known.

    A salesman is given the group of the region they sell in (every salesman sells in one
    region, the region of their group), so their rows come from the same policy.
    """
    kind, _, name = value.partition(":")
    if kind == "user":
        name = normalize_username(name)
        if name in region_of:
            group = f"/sales/{region_of[name]}"
            user = User(username=name, groups=frozenset({group}))
            return f"user:{name}", name, user
    elif kind == "group" and name:
        group = normalize_group(name)
        if group in {f"/sales/{r}/managers" for r in region_of.values()}:
            user = User(username="", groups=frozenset({group}))
            return f"group:{group}", group, user
    return None


class ViewAs:
    """Resolves the scope of each request and audits the views that need it.

    Two views are recorded in the platform's audit log
    (:func:`dash_appkit.platform.record_event`): an admin's "view as" a target, and an
    admin seeing every row (:data:`ALL_ROWS_EVENT`). Each is recorded once per view: the
    first request of it (the page load, an export) and again after ``window`` seconds of
    the same view, never once per callback. A view-as that the audit log cannot record is
    refused; every row stays the admin's own view (the contract's), and its audit is tried
    again ``retry`` seconds later (not on every callback while the platform is away).
    """

    def __init__(
        self,
        region_of: dict[str, str],
        *,
        app: str = "sales",
        window: float = 600,
        retry: float = 30,
    ):
        self.region_of = dict(region_of)
        self.app, self.window, self.retry = app, window, retry
        self._seen: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def scope(self, view_as: object = None, *, via: str = "dashboard") -> Scope | None:
        """The scope of the current request; ``None`` when nobody is signed in.

        ``view_as`` is whatever the browser sent: it counts only for admins, only when it
        names a known salesman or managers group, and only once the audit log has it.
        """
        user = current_user()
        if user is None:
            return None
        return self._viewing_as(user, view_as, via) or self._own(user, via)

    def _own(self, user: User, via: str) -> Scope:
        allowed = SALES_POLICY.evaluate(user)
        if allowed.is_all:
            self._record(user.username, ALL_ROWS_EVENT, "all rows", allowed, via, required=False)
        return Scope(user, allowed)

    def _viewing_as(self, user: User, view_as: object, via: str) -> Scope | None:
        if not view_as:
            return None
        if not isinstance(view_as, str) or not may_view_as_others(user):
            logger.warning("sales: ignored view-as %.80r from %s", view_as, user.username)
            return None
        found = _target(view_as, self.region_of)
        if found is None:
            return None
        value, name, target = found
        allowed = SALES_POLICY.evaluate(target)
        if not self._record(user.username, "app.view_as", value, allowed, via):
            return None
        return Scope(user, allowed, viewing_as=name, view_as_value=value)

    def _record(
        self,
        actor: str,
        action: str,
        target: str,
        allowed: AllowedRows,
        via: str,
        *,
        required: bool = True,
    ) -> bool:
        """Audit ``actor``'s view once per window; False if it cannot be recorded.

        A view that is not ``required`` to be recorded goes ahead anyway; its recording is
        tried again after ``retry`` seconds.
        """
        key = (actor, action, target)
        with self._lock:  # audited views are rare: holding the lock keeps them exactly-once
            last = self._seen.get(key)
            if last is not None and time.monotonic() - last < self.window:
                return True
            try:
                platform.record_event(  # looked up on each call: tests monkeypatch it
                    action,
                    target,
                    actor=actor,
                    detail={"app": self.app, "via": via, "rows": allowed.label},
                )
            except Exception:
                logger.exception("sales: could not audit %s %s by %s", action, target, actor)
                if not required:
                    self._seen[key] = time.monotonic() - self.window + self.retry
                return False
            self._seen[key] = time.monotonic()
            return True
