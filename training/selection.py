"""Hyper-parameter choices made from the training sales alone, so each rolling origin makes its own.

The 2010 sales were consulted when the recipe's settings were first chosen, so figures on them
are validation figures unless every choice is re-made inside each origin from the sales before
it. ``choose`` does that for the gradient-boosting settings: it fits each setting of a small grid
on the training sales before their latest year and keeps the one with the lowest RMSE of
ln(price) on that year (an inner year-ahead split, like the outer one; a random half when the
training sales span one year). The encoder is fitted once per call and shared by the grid, so a
choice costs one encoding and a few boosted fits. The other choices are made inside
``recipe.build`` from the same training sales: which candidate or blend serves (CV RMSE), the
blend weights (NNLS on out-of-fold predictions), the interval width's power
(``intervals.choose_power``) and the conformal multipliers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog

from dataset.sales import Dataset
from training.candidates import QUICK_XGBOOST
from training.evaluate import rmse
from training.features import FeatureEncoder
from training.models import XGBoostModel

log = structlog.get_logger(__name__)

XGBOOST_GRID: tuple[Mapping[str, Any], ...] = (
    {"n_estimators": 600, "learning_rate": 0.05, "max_depth": 4, "colsample_bytree": 0.3},
    {"n_estimators": 400, "learning_rate": 0.075, "max_depth": 4, "colsample_bytree": 0.3},
    {"n_estimators": 600, "learning_rate": 0.05, "max_depth": 3, "colsample_bytree": 0.5},
)
QUICK_XGBOOST_GRID: tuple[Mapping[str, Any], ...] = (
    QUICK_XGBOOST,
    {"n_estimators": 150, "learning_rate": 0.15, "max_depth": 3},
)
MIN_INNER_ROWS = 50


@dataclass(frozen=True)
class Choices:
    xgboost: Mapping[str, Any]
    inner_rmse: dict[str, float] = field(default_factory=dict)
    """RMSE of ln(price) of each grid setting on the inner check (label: ``setting_label``)."""
    checked_on: str = ""


def setting_label(setting: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in setting.items())


def inner_split(data: Dataset, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Fit rows, check rows and a description: the latest sale year against the earlier ones."""
    years = data.features["year_sold"].to_numpy()
    latest = years == years.max()
    if latest.sum() >= MIN_INNER_ROWS and (~latest).sum() >= MIN_INNER_ROWS:
        first, last = int(years.min()), int(years.max()) - 1
        span = str(first) if first == last else f"{first}-{last}"
        return ~latest, latest, f"{int(years.max())} sales predicted from {span}"
    half = np.random.default_rng(seed).permutation(len(data)) < len(data) // 2
    return ~half, half, "a random half predicted from the other"


def choose(data: Dataset, quick: bool) -> Choices:
    """The gradient-boosting setting that predicts ``data``'s own latest year best (see the docstring)."""
    grid = QUICK_XGBOOST_GRID if quick else XGBOOST_GRID
    fit_rows, check_rows, described = inner_split(data)
    fit, check = data.subset(fit_rows), data.subset(check_rows)
    encoder = FeatureEncoder()
    Z_fit = encoder.fit_transform(fit.features, np.log(fit.price))
    Z_check = encoder.transform(check.features)
    scored = {
        setting_label(setting): rmse(
            XGBoostModel(**setting).fit(Z_fit, np.log(fit.price)).predict(Z_check),
            np.log(check.price),
        )
        for setting in grid
    }
    best = min(grid, key=lambda setting: scored[setting_label(setting)])
    log.info(
        "settings_chosen",
        checked_on=described,
        chosen=setting_label(best),
        **{k: round(v, 4) for k, v in scored.items()},
    )
    return Choices(best, scored, described)
