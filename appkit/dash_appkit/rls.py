"""Row-level security: which rows of a table a verified identity may see.

A :class:`RowPolicy` is data: a list of :class:`Rule` objects, each saying *when* it applies
to an identity (a condition such as :func:`has_role` or :func:`in_group_pattern`) and *what*
it then allows (:data:`ALL_ROWS` or column constraints such as :func:`column_equals`)::

    policy = RowPolicy(
        columns={"region", "salesman"},
        rules=[
            Rule(when=has_role("admin"), allow=ALL_ROWS, label="All regions (admin)", final=True),
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
    allowed = policy.evaluate(user)          # AllowedRows
    frame[allowed.mask(frame)]               # pandas
    where = policy.where(allowed, "qmark")   # SQL with bound parameters

Rules are evaluated top-down; every matching rule adds what it allows (OR); a ``final`` rule
stops the evaluation. No matching rule means no rows (deny by default). Seeing every row is
only ever granted by the explicit :data:`ALL_ROWS`, and is logged.

:class:`AllowedRows` is a normal form (an OR of clauses, each an AND of ``column IN values``
terms): hashable, so it is a safe cache key, and narrowable by filters, which can only ever
remove rows from it (:meth:`AllowedRows.narrow`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from dash_appkit.names import group_covers, normalize_group

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "ALL_ROWS",
    "NO_ROWS",
    "AllowedRows",
    "Clause",
    "Grant",
    "Principal",
    "RowPolicy",
    "Rule",
    "SqlFilter",
    "always",
    "any_of",
    "column_equals",
    "has_role",
    "in_group",
    "in_group_pattern",
    "quote_identifier",
]

logger = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # always used with fullmatch


class Principal(Protocol):
    """What a policy reads of an identity (:class:`dash_appkit.identity.User` has it all)."""

    @property
    def username(self) -> str: ...

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def groups(self) -> frozenset[str]: ...


#: What a condition found: one mapping of placeholder -> value per way the rule matched.
Bindings = list[Mapping[str, str]]
Condition = Callable[[Principal], Bindings]
Label = str | Callable[[Principal, Mapping[str, str]], str]


# --------------------------------------------------------------------------- allowed rows


@dataclass(frozen=True, slots=True)
class Clause:
    """``col1 IN (...) AND col2 IN (...)``; no terms at all means every row."""

    terms: tuple[tuple[str, frozenset[str]], ...] = ()

    @classmethod
    def of(cls, terms: Mapping[str, Iterable[str]]) -> Clause | None:
        """A clause from ``{column: values}``; ``None`` when some value set is empty."""
        built = {col: frozenset(str(v) for v in vals) for col, vals in terms.items()}
        if any(not vals for vals in built.values()):
            return None
        return cls(tuple(sorted(built.items())))

    def values(self, column: str) -> frozenset[str] | None:
        """The values this clause allows for ``column`` (``None``: unconstrained)."""
        return dict(self.terms).get(column)

    def and_(self, other: Clause) -> Clause | None:
        """Both clauses at once; ``None`` when no row can satisfy both."""
        merged = dict(self.terms)
        for col, vals in other.terms:
            merged[col] = merged[col] & vals if col in merged else vals
        return Clause.of(merged)


def _normalize(clauses: Iterable[Clause]) -> tuple[Clause, ...]:
    """Canonical OR of clauses: ALL absorbs, single-column clauses on a column merge."""
    clauses = list(clauses)
    if any(not c.terms for c in clauses):
        return (Clause(),)
    single: dict[str, frozenset[str]] = {}
    multi: set[Clause] = set()
    for c in clauses:
        if len(c.terms) == 1:
            col, vals = c.terms[0]
            single[col] = single.get(col, frozenset()) | vals
        else:
            multi.add(c)
    # A multi-column clause that a single-column one already covers adds nothing.
    multi = {c for c in multi if not any(_covers(col, vals, c) for col, vals in single.items())}
    out = [Clause(((col, vals),)) for col, vals in single.items()] + list(multi)
    return tuple(sorted(out, key=_clause_sort_key))


def _covers(column: str, values: frozenset[str], clause: Clause) -> bool:
    own = clause.values(column)
    return own is not None and own <= values


def _clause_sort_key(c: Clause) -> tuple:
    return tuple((col, tuple(sorted(vals))) for col, vals in c.terms)


@dataclass(frozen=True, slots=True)
class AllowedRows:
    """The rows an identity may see: an OR of :class:`Clause`, with a human label.

    ``AllowedRows.all(...)`` is every row, ``AllowedRows.none(...)`` no row. Equality and
    :attr:`key` ignore the label, so two identities with the same rows share cache entries.
    """

    clauses: tuple[Clause, ...]
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clauses", _normalize(self.clauses))

    @classmethod
    def all(cls, label: str = "All rows") -> AllowedRows:
        return cls((Clause(),), label)

    @classmethod
    def none(cls, label: str = "No rows") -> AllowedRows:
        return cls((), label)

    @property
    def is_all(self) -> bool:
        return self.clauses == (Clause(),)

    @property
    def is_none(self) -> bool:
        return not self.clauses

    @property
    def key(self) -> tuple[Clause, ...]:
        """A hashable cache key for exactly this row set (the label is not part of it)."""
        return self.clauses

    def narrow(self, column: str, values: Iterable[str]) -> AllowedRows:
        """Only the rows whose ``column`` is one of ``values`` as well: never more rows."""
        only = Clause.of({column: values})
        if only is None:
            return AllowedRows((), self.label)
        kept = (c.and_(only) for c in self.clauses)
        return AllowedRows(tuple(c for c in kept if c is not None), self.label)

    # ---- pandas
    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """A boolean array over ``frame``'s rows: True where the row is allowed."""
        import numpy as np  # lazily: apps that only use the SQL side need no numpy

        n = len(frame)
        if self.is_all:
            return np.ones(n, dtype=bool)
        out = np.zeros(n, dtype=bool)
        for clause in self.clauses:
            part = np.ones(n, dtype=bool)
            for col, vals in clause.terms:
                part &= frame[col].isin(list(vals)).to_numpy(dtype=bool)
            out |= part
        return out

    def select(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The allowed rows of ``frame`` (the frame itself for ALL, no copy)."""
        if self.is_all:
            return frame
        if self.is_none:
            return frame.iloc[0:0]
        return frame[self.mask(frame)]

    # ---- SQL
    def to_sql(
        self, columns: Iterable[str], paramstyle: str = "qmark", *, prefix: str = "rls_"
    ) -> SqlFilter:
        """A WHERE condition with bound parameters; identifiers must be in ``columns``.

        ``paramstyle``: ``qmark`` (``?``: DuckDB, sqlite), ``format`` (``%s``: psycopg),
        ``pyformat`` (``%(name)s``: psycopg) or ``named`` (``:name``). Values never enter
        the SQL text. ``prefix`` names the parameters of the dict styles.
        """
        allow = frozenset(columns)
        binder = _Binder(paramstyle, prefix)
        if self.is_all:
            return SqlFilter("1 = 1", _empty_params(paramstyle))
        if self.is_none:
            return SqlFilter("1 = 0", _empty_params(paramstyle))
        ors = []
        for clause in self.clauses:
            ands = []
            for col, vals in clause.terms:
                if col not in allow:
                    raise ValueError(f"column {col!r} is not in the policy's column allowlist")
                ident = quote_identifier(col)
                marks = [binder.bind(v) for v in sorted(vals)]
                ands.append(
                    f"{ident} = {marks[0]}"
                    if len(marks) == 1
                    else f"{ident} IN ({', '.join(marks)})"
                )
            ors.append(ands[0] if len(ands) == 1 else "(" + " AND ".join(ands) + ")")
        return SqlFilter("(" + " OR ".join(ors) + ")", binder.params)


class SqlFilter(NamedTuple):
    """A SQL condition and its parameters (a list, or a dict for the named styles)."""

    sql: str
    params: list[Any] | dict[str, Any]


def _empty_params(paramstyle: str) -> list[Any] | dict[str, Any]:
    return {} if paramstyle in ("pyformat", "named") else []


class _Binder:
    def __init__(self, paramstyle: str, prefix: str) -> None:
        if paramstyle not in ("qmark", "format", "pyformat", "named"):
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


def quote_identifier(name: str) -> str:
    """``"name"`` for a plain identifier; anything else is refused, never escaped."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


# --------------------------------------------------------------------------- conditions


def always(principal: Principal) -> Bindings:
    """Matches every signed-in identity."""
    return [{}]


def has_role(role: str) -> Condition:
    """Matches holders of ``role`` (a client role of the ``dash`` client)."""

    def condition(principal: Principal) -> Bindings:
        return [{}] if str(role) in principal.roles else []

    condition.__name__ = f"has_role({role!r})"
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


# --------------------------------------------------------------------------- grants


@dataclass(frozen=True, slots=True)
class _Term:
    column: str
    value: str | None = None
    from_user: str | None = None
    from_group: str | None = None

    def resolve(self, principal: Principal, binding: Mapping[str, str]) -> str | None:
        if self.value is not None:
            return self.value
        if self.from_user is not None:
            got = getattr(principal, self.from_user, None)
        else:
            got = binding.get(self.from_group or "")
        return got.strip() if isinstance(got, str) and got.strip() else None


@dataclass(frozen=True, slots=True)
class Grant:
    """What a rule allows: ALL, NONE, or an AND of ``column = value`` terms (combine with ``&``)."""

    kind: str  # "all", "none" or "terms"
    terms: tuple[_Term, ...] = ()

    def __and__(self, other: Grant) -> Grant:
        if self.kind != "terms" or other.kind != "terms":
            raise TypeError("only column constraints can be combined with &")
        return Grant("terms", self.terms + other.terms)

    def clause(self, principal: Principal, binding: Mapping[str, str]) -> Clause | None:
        """The clause for one match; ``None`` when a value is missing (then nothing is allowed)."""
        values: dict[str, set[str]] = {}
        for term in self.terms:
            got = term.resolve(principal, binding)
            if got is None:
                return None
            values.setdefault(term.column, set()).add(got)
        if any(len(v) > 1 for v in values.values()):
            return None  # col = a AND col = b: no row
        return Clause.of(values)


#: Every row. The only way to grant it; its use is logged.
ALL_ROWS = Grant("all")
#: No row (useful with ``final=True`` to stop later rules).
NO_ROWS = Grant("none")


def column_equals(
    column: str,
    *,
    value: str | None = None,
    from_user: str | None = None,
    from_group: str | None = None,
) -> Grant:
    """Rows whose ``column`` equals a literal, an attribute of the user, or a group placeholder."""
    if sum(x is not None for x in (value, from_user, from_group)) != 1:
        raise ValueError("give exactly one of value, from_user, from_group")
    quote_identifier(column)
    return Grant("terms", (_Term(column, value, from_user, from_group),))


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Rule:
    when: Condition
    allow: Grant
    label: Label = ""
    #: Log every time the rule grants rows (grants of ALL_ROWS are always logged).
    log: bool = False
    #: Stop evaluating later rules once this one matched.
    final: bool = False
    name: str = ""

    def describe(self, principal: Principal, binding: Mapping[str, str]) -> str:
        return self.label(principal, binding) if callable(self.label) else self.label


@dataclass(frozen=True)
class RowPolicy:
    """Rules evaluated top-down; ``columns`` is the allowlist of constrainable columns."""

    rules: Sequence[Rule]
    columns: frozenset[str] | set[str] | Sequence[str]
    name: str = "rows"
    none_label: str = "No rows"

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", frozenset(self.columns))
        object.__setattr__(self, "rules", tuple(self.rules))
        for col in self.columns:
            quote_identifier(col)
        for rule in self.rules:
            for term in rule.allow.terms:
                if term.column not in self.columns:
                    raise ValueError(f"rule uses column {term.column!r} outside the allowlist")

    def evaluate(self, principal: Principal | None) -> AllowedRows:
        """The rows ``principal`` may see. Anonymous or no matching rule: none."""
        if principal is None:
            return AllowedRows.none("Not signed in")
        clauses: list[Clause] = []
        labels: list[str] = []
        for index, rule in enumerate(self.rules):
            bindings = rule.when(principal)
            if not bindings:
                continue
            rule_name = rule.name or f"#{index}"
            if rule.allow.kind == "all":
                label = rule.describe(principal, bindings[0]) or "All rows"
                logger.info(
                    "row policy %s: %s sees ALL rows by rule %s (%s)",
                    self.name,
                    principal.username,
                    rule_name,
                    label,
                )
                return AllowedRows.all(label)
            for binding in bindings:
                clause = (
                    rule.allow.clause(principal, binding) if rule.allow.kind == "terms" else None
                )
                if clause is None:
                    continue
                clauses.append(clause)
                label = rule.describe(principal, binding)
                if label and label not in labels:
                    labels.append(label)
                if rule.log:
                    logger.info(
                        "row policy %s: %s granted %s by rule %s",
                        self.name,
                        principal.username,
                        label,
                        rule_name,
                    )
            if rule.final:
                break
        if not clauses:
            return AllowedRows.none(self.none_label)
        return AllowedRows(tuple(clauses), " + ".join(labels))

    def where(
        self, allowed: AllowedRows, paramstyle: str = "qmark", *, prefix: str = "rls_"
    ) -> SqlFilter:
        """``allowed`` as SQL over this policy's column allowlist."""
        return allowed.to_sql(self.columns, paramstyle, prefix=prefix)
