"""When a rule applies to an identity: conditions, each returning what it found.

A condition returns one binding (placeholder -> value) per way it matched, and an empty
list when it does not match. ``in_group_pattern("/sales/{region}/managers")`` binds
``region`` for each managers group the identity is in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from dash_appkit.names import group_covers, normalize_group
from dash_appkit.roles import Action, Principal, can

__all__ = [
    "Bindings",
    "Condition",
    "allowed_to",
    "always",
    "any_of",
    "has_role",
    "in_group",
    "in_group_pattern",
]

#: What a condition found: one mapping of placeholder -> value per way the rule matched.
Bindings = list[Mapping[str, str]]
Condition = Callable[[Principal], Bindings]


def always(principal: Principal) -> Bindings:
    """Matches every signed-in identity."""
    return [{}]


def has_role(role: str) -> Condition:
    """Matches holders of ``role`` (a client role of the ``dash`` client)."""

    def condition(principal: Principal) -> Bindings:
        return [{}] if str(role) in principal.roles else []

    condition.__name__ = f"has_role({role!r})"
    return condition


def allowed_to(action: Action) -> Condition:
    """Matches identities the platform's permission model allows ``action``
    (:func:`dash_appkit.roles.can`, the platform's ``roles.py``): the table decides who."""

    def condition(principal: Principal) -> Bindings:
        return [{}] if can(principal, action) else []

    condition.__name__ = f"allowed_to({action!s})"
    return condition


def in_group(path: str) -> Condition:
    """Matches members of the group ``path`` or of one of its subgroups."""

    def condition(principal: Principal) -> Bindings:
        return [{}] if any(group_covers(path, g) for g in principal.groups) else []

    condition.__name__ = f"in_group({path!r})"
    return condition


def in_group_pattern(pattern: str, *, subgroups: bool = False) -> Condition:
    """Matches groups like ``/sales/{region}/managers``; each ``{name}`` is one path segment.

    Every matching group yields one binding (``{"region": "east"}``). With ``subgroups``,
    members of subgroups of a matching group match too.
    """
    parts = []
    for segment in normalize_group(pattern).strip("/").split("/"):
        m = re.fullmatch(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", segment)
        parts.append(f"(?P<{m.group(1)}>[^/]+)" if m else re.escape(segment))
    tail = "(?:/.*)?" if subgroups else ""
    regex = re.compile("/" + "/".join(parts) + tail)

    def condition(principal: Principal) -> Bindings:
        found = (regex.fullmatch(normalize_group(g)) for g in sorted(principal.groups))
        return [m.groupdict() for m in found if m]

    condition.__name__ = f"in_group_pattern({pattern!r})"
    return condition


def any_of(*conditions: Condition) -> Condition:
    """Matches when any of ``conditions`` does (their bindings together)."""

    def condition(principal: Principal) -> Bindings:
        return [b for c in conditions for b in c(principal)]

    return condition
