"""Policies as data: rules saying *when* they apply and *what* they then allow.

Rules are evaluated top-down; every matching rule adds what it allows (OR); a ``final``
rule stops the evaluation. No matching rule means no rows (deny by default). Every row is
only ever granted by the explicit :data:`ALL_ROWS`; the result says so
(:attr:`AllowedRows.is_all`), and the app audits it once per view, not per evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dash_appkit.rls.conditions import Condition
from dash_appkit.rls.normal_form import AllowedRows, Clause
from dash_appkit.rls.sql import SqlFilter, quote_identifier
from dash_appkit.roles import Principal

__all__ = ["ALL_ROWS", "NO_ROWS", "Grant", "Label", "RowPolicy", "Rule", "column_equals"]

Label = str | Callable[[Principal, Mapping[str, str]], str]


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


#: Every row. The only way to grant it.
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


@dataclass(frozen=True)
class Rule:
    """``when`` an identity matches, ``allow`` these rows, described by ``label``."""

    when: Condition
    allow: Grant
    label: Label = ""
    #: Stop evaluating later rules once this one matched.
    final: bool = False
    #: What the rule is called in the policy's error messages.
    name: str = ""

    def describe(self, principal: Principal, binding: Mapping[str, str]) -> str:
        """The label of one match, for the person who sees the rows."""
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
        for index, rule in enumerate(self.rules):
            for term in rule.allow.terms:
                if term.column not in self.columns:
                    raise ValueError(
                        f"rule {rule.name or index!r} uses column {term.column!r} "
                        "outside the allowlist"
                    )

    def evaluate(self, principal: Principal | None) -> AllowedRows:
        """The rows ``principal`` may see. Anonymous or no matching rule: none."""
        if principal is None:
            return AllowedRows.none("Not signed in")
        clauses: list[Clause] = []
        labels: list[str] = []
        for rule in self.rules:
            bindings = rule.when(principal)
            if not bindings:
                continue
            if rule.allow.kind == "all":
                return AllowedRows.all(rule.describe(principal, bindings[0]) or "All rows")
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
