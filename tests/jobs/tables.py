"""Test tables of houses: real Ames rows repeated to any length, with known invalid rows."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

INVALID_EVERY = 997


@lru_cache(maxsize=1)
def ames() -> pd.DataFrame:
    from dataset.sales import load

    return load().features


def houses_table(rows: int, invalid_every: int = INVALID_EVERY) -> pd.DataFrame:
    """``rows`` houses; every ``invalid_every``-th row has a negative living area."""
    base = ames()
    frame = pd.concat([base] * (rows // len(base) + 1), ignore_index=True).iloc[:rows].copy()
    frame.loc[frame.index % invalid_every == invalid_every - 1, "gr_liv_area"] = -5
    return frame.reset_index(drop=True)


def invalid_rows(rows: int, invalid_every: int = INVALID_EVERY) -> set[int]:
    return {i for i in range(rows) if i % invalid_every == invalid_every - 1}
