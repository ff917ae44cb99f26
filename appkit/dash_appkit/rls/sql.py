"""The SQL renderer: a row set as a WHERE condition with bound parameters.

Values never enter the SQL text; identifiers must be plain and on the caller's allowlist,
and are quoted, never escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from dash_appkit.rls.normal_form import AllowedRows

__all__ = ["PARAMSTYLES", "SqlFilter", "quote_identifier", "to_sql"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # always used with fullmatch
#: The DB-API paramstyles rendered: ``?``, ``%s``, ``%(name)s`` and ``:name``.
PARAMSTYLES = ("qmark", "format", "pyformat", "named")


class SqlFilter(NamedTuple):
    """A SQL condition and its parameters (a list, or a dict for the named styles)."""

    sql: str
    params: list[Any] | dict[str, Any]


def quote_identifier(name: str) -> str:
    """``"name"`` for a plain identifier; anything else is refused, never escaped."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def _empty_params(paramstyle: str) -> list[Any] | dict[str, Any]:
    return {} if paramstyle in ("pyformat", "named") else []


class _Binder:
    def __init__(self, paramstyle: str, prefix: str) -> None:
        if paramstyle not in PARAMSTYLES:
            raise ValueError(f"unsupported paramstyle {paramstyle!r}")
        if not _IDENTIFIER.fullmatch(prefix):
            raise ValueError(f"bad parameter prefix {prefix!r}")
        self.style, self.prefix = paramstyle, prefix
        self.params: list[Any] | dict[str, Any] = _empty_params(paramstyle)

    def bind(self, value: str) -> str:
        if isinstance(self.params, list):
            self.params.append(value)
            return "?" if self.style == "qmark" else "%s"
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"%({name})s" if self.style == "pyformat" else f":{name}"


def to_sql(
    allowed: AllowedRows, columns: Iterable[str], paramstyle: str = "qmark", *, prefix: str = "rls_"
) -> SqlFilter:
    """``allowed`` as a WHERE condition; every identifier it names must be in ``columns``.

    ``paramstyle``: ``qmark`` (``?``: DuckDB, sqlite), ``format`` (``%s``: psycopg),
    ``pyformat`` (``%(name)s``: psycopg) or ``named`` (``:name``). ``prefix`` names the
    parameters of the dict styles.
    """
    allow = frozenset(columns)
    binder = _Binder(paramstyle, prefix)
    if allowed.is_all:
        return SqlFilter("1 = 1", _empty_params(paramstyle))
    if allowed.is_none:
        return SqlFilter("1 = 0", _empty_params(paramstyle))
    ors = []
    for clause in allowed.clauses:
        ands = []
        for col, vals in clause.terms:
            if col not in allow:
                raise ValueError(f"column {col!r} is not in the policy's column allowlist")
            ident = quote_identifier(col)
            marks = [binder.bind(v) for v in sorted(vals)]
            ands.append(
                f"{ident} = {marks[0]}" if len(marks) == 1 else f"{ident} IN ({', '.join(marks)})"
            )
        ors.append(ands[0] if len(ands) == 1 else "(" + " AND ".join(ands) + ")")
    return SqlFilter("(" + " OR ".join(ors) + ")", binder.params)
