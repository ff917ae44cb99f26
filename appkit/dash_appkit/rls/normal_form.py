"""The normal form of a row set: an OR of clauses, each an AND of ``column IN values`` terms.

:class:`AllowedRows` is the one value every engine reads. It is hashable (a safe cache key)
and can only be narrowed, never widened (:meth:`AllowedRows.narrow`). Engines turn it into
their own language through the renderers: :meth:`AllowedRows.mask` (pandas,
:mod:`dash_appkit.rls.frames`) and :meth:`AllowedRows.to_sql` (:mod:`dash_appkit.rls.sql`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dash_appkit.rls import frames, sql

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["AllowedRows", "Clause"]


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
    :attr:`key` ignore the label, so two identities with the same rows share cache entries;
    ``AllowedRows(key)`` is the same row set again.
    """

    clauses: tuple[Clause, ...]
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clauses", _normalize(self.clauses))

    @classmethod
    def all(cls, label: str = "All rows") -> AllowedRows:
        """Every row: what :data:`dash_appkit.rls.ALL_ROWS` grants."""
        return cls((Clause(),), label)

    @classmethod
    def none(cls, label: str = "No rows") -> AllowedRows:
        """No row: what an identity that no rule matches gets."""
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

    # ---- the renderers
    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """A boolean array over ``frame``'s rows: True where the row is allowed."""
        return frames.mask(self, frame)

    def select(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The allowed rows of ``frame`` (the frame itself for ALL, no copy)."""
        return frames.select(self, frame)

    def to_sql(
        self, columns: Iterable[str], paramstyle: str = "qmark", *, prefix: str = "rls_"
    ) -> sql.SqlFilter:
        """A WHERE condition with bound parameters (:func:`dash_appkit.rls.sql.to_sql`)."""
        return sql.to_sql(self, columns, paramstyle, prefix=prefix)
