"""Prediction intervals that vary by house: normalised split-conformal on out-of-fold residuals.

One conformal radius for every house is too wide for ordinary sales and far too narrow for
unusual ones (old houses in mixed areas, rare styles, large lots). Instead a small linear model
``sigma(x)`` learns the expected |residual| of ln(price) from the encoded features, and the
interval at level ``a`` is ``ln(price) +/- q_a * sigma(x) ** SIGMA_POWER``, where ``q_a`` is the
split-conformal quantile of the scores ``|residual| / sigma(x) ** SIGMA_POWER``.

Why the square root: ``sigma`` is fitted on errors within the training years, and the houses it
sets apart differ less in the next year than it says. In the year-ahead checks of 2007, 2008 and
2009 (the recipe fitted on the earlier years each time), dividing by ``sigma`` itself covered
the calmest third of houses 69 % of the time at 80 % and the noisiest third 86 %; a plain
radius (power 0) turned that round (88 % and 69 %). Power 0.5 covered every third 78-81 % and
had the lowest mean interval score (Winkler) of 0, 0.25, 0.5, 0.75 and 1 at both levels. The
power is now chosen again by every training (``choose_power``, from 0.25, 0.5 and 0.75, on the
training sales' own out-of-fold residuals), so a rolling origin's intervals owe nothing to the
sales after it.

Out-of-fold residuals come from models that saw sales on both sides of each one in time, but a
served valuation is for a sale after the training data. So the multiplier is widened by how much
larger the latest year-ahead errors are: the ratio of the |residual| quantile of the latest
year's sales, predicted by a model fitted on the earlier years, to the out-of-fold quantile of
all sales (never below 1). Comparing with all sales rather than the latest year's own
out-of-fold errors also carries a recent market's extra noise into the intervals.

The residuals are the ensemble's out-of-fold residuals. ``sigma`` itself is cross-fitted: each
row's score uses a ``sigma`` fitted without that row, so the quantile is not shrunk by ``sigma``
having seen the residual it divides. Serving costs one matrix-vector product.

Why not MAPIE: its conformalised regressors refit the point model per fold, which the recipe
already does (the out-of-fold predictions exist); what is left is the few lines below.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

import numpy as np
from sklearn.model_selection import KFold

from training.models import LinearModel

SIGMA_FLOOR = 0.02
"""Smallest |residual| scale (about 2 % of the price): a linear fit can dip towards zero or below."""
SIGMA_POWER = 0.5
"""How far the radius follows ``sigma(x)``: 1 in proportion, 0 not at all (see the module docstring)."""
POWER_GRID = (0.25, 0.5, 0.75)
"""The powers ``choose_power`` picks from, on each training set's own out-of-fold residuals."""


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) level)-th smallest score (the split-conformal finite-sample quantile), capped at the largest."""
    k = min(scores.size, int(np.ceil((scores.size + 1) * level)))
    return float(np.partition(scores.ravel(), k - 1)[k - 1])


def cross_fitted_sigma(Z: np.ndarray, target: np.ndarray, n_folds: int, random_state: int) -> np.ndarray:
    """Each row's expected |residual| from a ``sigma`` model fitted without that row."""
    sigma = np.empty(len(target))
    folds = KFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    for fit_rows, out_rows in folds.split(Z):
        sigma[out_rows] = LinearModel().fit(Z[fit_rows], target[fit_rows]).predict(Z[out_rows])
    return np.maximum(sigma, SIGMA_FLOOR)


def interval_score(abs_residuals: np.ndarray, radius: np.ndarray, level: float) -> float:
    """Mean interval (Winkler) score of symmetric log intervals: width plus 2 / (1 - level) x miss."""
    miss = np.maximum(abs_residuals - radius, 0.0)
    return float(np.mean(2 * radius + 2 / (1 - level) * miss))


def choose_power(
    Z: np.ndarray,
    abs_residuals: np.ndarray,
    levels: Iterable[float],
    powers: Iterable[float] = POWER_GRID,
    n_folds: int = 5,
    random_state: int = 0,
) -> float:
    """The power with the lowest mean interval score over ``levels``, each fold's intervals
    calibrated on the other folds' scores (the rows as in ``AdaptiveIntervals.fit``)."""
    abs_residuals = np.atleast_2d(abs_residuals)
    sigma = cross_fitted_sigma(Z, abs_residuals.mean(axis=0), n_folds, random_state)
    folds = list(KFold(n_splits=n_folds, shuffle=True, random_state=random_state + 1).split(Z))
    levels = tuple(levels)

    def score(power: float) -> float:
        total = 0.0
        for fit_rows, out_rows in folds:
            calibration = abs_residuals[:, fit_rows] / sigma[fit_rows] ** power
            for level in levels:
                radius = conformal_quantile(calibration, level) * sigma[out_rows] ** power
                total += interval_score(abs_residuals[:, out_rows], radius[None, :], level)
        return total

    return min(powers, key=score)


class AdaptiveIntervals:
    """``sigma(x)`` and one conformal multiplier per level; ``radius(Z)`` gives log half-widths."""

    def __init__(self, n_folds: int = 5, random_state: int = 0, power: float = SIGMA_POWER) -> None:
        self.n_folds = n_folds
        self.random_state = random_state
        self.power = power

    def fit(self, Z: np.ndarray, abs_residuals: np.ndarray, levels: Iterable[float]) -> Self:
        """``Z``: the training rows as the members saw them (rows x columns); ``abs_residuals``: their
        out-of-fold |residuals| of ln(price), one row per CV repeat (repeats x rows).

        ``sigma`` learns each house's mean |residual| over the repeats; every repeat's residual is a score.
        """
        abs_residuals = np.atleast_2d(abs_residuals)
        target = abs_residuals.mean(axis=0)
        sigma = cross_fitted_sigma(Z, target, self.n_folds, self.random_state)
        scores = (abs_residuals / sigma[None, :] ** self.power).ravel()
        self.multiplier_ = {level: conformal_quantile(scores, level) for level in levels}
        self.scale_ = LinearModel().fit(Z, target)
        return self

    def widen(self, factors: dict[float, float]) -> Self:
        """Scale each level's multiplier (see ``recipe.year_ahead_factors``); factors below 1 are ignored."""
        self.widened_by_ = {level: max(1.0, factors.get(level, 1.0)) for level in self.multiplier_}
        self.multiplier_ = {level: q * self.widened_by_[level] for level, q in self.multiplier_.items()}
        return self

    def sigma(self, Z: np.ndarray) -> np.ndarray:
        return np.asarray(np.maximum(self.scale_.predict(Z), SIGMA_FLOOR), dtype=float)

    def radius(self, Z: np.ndarray) -> dict[float, np.ndarray]:
        spread = self.sigma(Z) ** self.power
        return {level: q * spread for level, q in self.multiplier_.items()}
