"""Row-level security: which rows of a table a verified identity may see.

A :class:`RowPolicy` is data: a list of :class:`Rule` objects, each saying *when* it applies
to an identity (a condition such as :func:`allowed_to` or :func:`in_group_pattern`) and
*what* it then allows (:data:`ALL_ROWS` or column constraints such as
:func:`column_equals`)::

    policy = RowPolicy(
        columns={"region", "salesman"},
        rules=[
            Rule(when=allowed_to(Action.VIEW_DATA_AS_OTHERS), allow=ALL_ROWS, final=True),
            Rule(
                when=in_group_pattern("/sales/{region}/managers"),
                allow=column_equals("region", from_group="region"),
                label=lambda user, found: f"{found['region'].title()} region",
            ),
            Rule(
                when=in_group_pattern("/sales/{region}"),
                allow=column_equals("salesman", from_user="username"),
                label="Your sales",
            ),
        ],
    )
    allowed = policy.evaluate(user)          # AllowedRows: the normal form
    frame[allowed.mask(frame)]               # the pandas renderer
    where = policy.where(allowed, "qmark")   # the SQL renderer, values as bound parameters

The package: :mod:`~dash_appkit.rls.normal_form` (:class:`AllowedRows`, the one value
every engine reads), :mod:`~dash_appkit.rls.conditions` and :mod:`~dash_appkit.rls.policy`
(rules to rows), :mod:`~dash_appkit.rls.frames` (pandas) and :mod:`~dash_appkit.rls.sql`.
An engine reads a row set only through these renderers, never through its clauses.
"""

from __future__ import annotations

from dash_appkit.rls.conditions import (
    Bindings,
    Condition,
    allowed_to,
    always,
    any_of,
    has_role,
    in_group,
    in_group_pattern,
)
from dash_appkit.rls.normal_form import AllowedRows, Clause
from dash_appkit.rls.policy import ALL_ROWS, NO_ROWS, Grant, RowPolicy, Rule, column_equals
from dash_appkit.rls.sql import SqlFilter, quote_identifier
from dash_appkit.roles import Principal

__all__ = [
    "ALL_ROWS",
    "NO_ROWS",
    "AllowedRows",
    "Bindings",
    "Clause",
    "Condition",
    "Grant",
    "Principal",
    "RowPolicy",
    "Rule",
    "SqlFilter",
    "allowed_to",
    "always",
    "any_of",
    "column_equals",
    "has_role",
    "in_group",
    "in_group_pattern",
    "quote_identifier",
]
