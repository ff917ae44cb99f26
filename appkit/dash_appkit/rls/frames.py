"""The pandas renderer: a row set as a boolean mask over a DataFrame.

numpy and pandas are imported lazily: an app that only renders SQL needs neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from dash_appkit.rls.normal_form import AllowedRows

__all__ = ["mask", "select"]


def mask(allowed: AllowedRows, frame: pd.DataFrame) -> np.ndarray:
    """A boolean array over ``frame``'s rows: True where ``allowed`` allows the row.

    Every column a clause names must be a column of ``frame``; a missing one is an error,
    never "unconstrained".
    """
    import numpy as np

    n = len(frame)
    if allowed.is_all:
        return np.ones(n, dtype=bool)
    out = np.zeros(n, dtype=bool)
    for clause in allowed.clauses:
        part = np.ones(n, dtype=bool)
        for col, vals in clause.terms:
            if col not in frame.columns:
                raise ValueError(f"column {col!r} is not in the frame")
            part &= frame[col].isin(list(vals)).to_numpy(dtype=bool)
        out |= part
    return out


def select(allowed: AllowedRows, frame: pd.DataFrame) -> pd.DataFrame:
    """The allowed rows of ``frame`` (the frame itself for ALL, no copy)."""
    if allowed.is_all:
        return frame
    if allowed.is_none:
        return frame.iloc[0:0]
    return frame[mask(allowed, frame)]
