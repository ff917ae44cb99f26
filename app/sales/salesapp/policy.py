"""Who sees which sales rows, and the admin's "view as".

The row rules are the contract's: a holder of ``admin`` sees every row, a member of
``/sales/<region>/managers`` every row of <region>, a salesman (member of ``/sales/<region>``)
the rows whose salesman is their username; everyone else none.
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
    column_equals,
    has_role,
    in_group_pattern,
)

__all__ = [
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
            when=has_role("admin"),
            allow=ALL_ROWS,
            label="All regions (admin)",
            log=True,
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
    """Whether ``user`` may pick "view as" (see another person's or group's rows).

    Mirrors the platform's ``roles.PERMISSIONS[Action.VIEW_DATA_AS_OTHERS]``, which grants it
    to the ``admin`` role only; an app cannot import ``roles.py`` (it runs in its own
    environment), so the rule is repeated here until the two are unified.
    """
    return user is not None and user.has_role("admin")


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
    """Resolves the scope of each request and records admins' "view as" in the audit log.

    Events go to the platform's audit log (:func:`dash_appkit.platform.record_event`). An
    event is recorded the first time an admin views as a target and again after ``window``
    seconds of the same view, so changing a filter does not flood the log. If the audit log
    cannot record the event, the view-as is refused.
    """

    def __init__(self, region_of: dict[str, str], *, app: str = "sales", window: float = 600):
        self.region_of = dict(region_of)
        self.app, self.window = app, window
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def scope(self, view_as: object = None, *, via: str = "dashboard") -> Scope | None:
        """The scope of the current request; ``None`` when nobody is signed in.

        ``view_as`` is whatever the browser sent: it counts only for admins, only when it
        names a known salesman or managers group, and only once the audit log has it.
        """
        user = current_user()
        if user is None:
            return None
        own = Scope(user, SALES_POLICY.evaluate(user))
        if not view_as:
            return own
        if not isinstance(view_as, str) or not may_view_as_others(user):
            logger.warning("sales: ignored view-as %.80r from %s", view_as, user.username)
            return own
        found = _target(view_as, self.region_of)
        if found is None:
            return own
        value, name, target = found
        allowed = SALES_POLICY.evaluate(target)
        if not self._record(user.username, value, allowed, via):
            return own
        return Scope(user, allowed, viewing_as=name, view_as_value=value)

    def _record(self, actor: str, target: str, allowed: AllowedRows, via: str) -> bool:
        """Audit ``actor`` viewing as ``target`` (``user:bob``); False if it cannot be recorded."""
        key = (actor, target)
        with self._lock:  # view-as events are rare: holding the lock keeps them exactly-once
            last = self._seen.get(key)
            if last is not None and time.monotonic() - last < self.window:
                return True
            try:
                platform.record_event(  # looked up on each call: tests monkeypatch it
                    "app.view_as",
                    target,
                    actor=actor,
                    detail={"app": self.app, "via": via, "rows": allowed.label},
                )
            except Exception:
                logger.exception("sales: could not audit view-as %s by %s; refused", target, actor)
                return False
            self._seen[key] = time.monotonic()
            return True
