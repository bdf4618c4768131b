"""Percentile bootstrap intervals of a statistic over paired samples (scipy), at one confidence level."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

CI_LEVEL = 0.95


def bootstrap_ci(
    statistic: Callable[..., Any],
    samples: tuple[np.ndarray, ...],
    n_resamples: int = 1_000,
    seed: int = 0,
    vectorized: bool = False,
) -> tuple[float, float]:
    """The 95 % percentile interval of ``statistic`` over resamples of the paired ``samples``."""
    result = stats.bootstrap(
        samples,
        statistic,
        paired=True,
        vectorized=vectorized,
        n_resamples=n_resamples,
        confidence_level=CI_LEVEL,
        method="percentile",
        random_state=seed,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)
