"""The training recipe: cross-validate the candidates, blend if it helps, refit, calibrate intervals.

The interval scale model sees the training rows as the members did when fitted
(``FeatureEncoder.fit_transform``: out-of-fold price statistics), so its inputs match theirs.

Applied to all sales for the registered model and to pre-2010 sales for the temporal holdout.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import structlog
from sklearn.compose import TransformedTargetRegressor

from dataset.sales import Dataset
from schemas import INTERVAL_LEVELS
from training.candidates import Candidate
from training.comparables import ComparablesIndex
from training.evaluate import (
    CVResult,
    cross_validate,
    cross_validate_blend,
    fit_blend_weights,
    make_splits,
    price_metrics,
)
from training.features import FeatureEncoder
from training.guard import ApplicabilityGuard
from training.intervals import AdaptiveIntervals, choose_power
from training.serving import CALIBRATED_LEVELS, Valuer

log = structlog.get_logger(__name__)
MIN_YEAR_AHEAD_ROWS = 50


@dataclass
class BuiltModel:
    cv: dict[str, CVResult]
    selected: str
    weights: dict[str, float]
    oof: np.ndarray
    intervals: AdaptiveIntervals
    fitted: dict[str, TransformedTargetRegressor]
    price: np.ndarray

    @property
    def cv_rmse(self) -> float:
        return self.cv[self.selected].rmse

    @cached_property
    def cv_metrics(self) -> dict[str, dict[str, float]]:
        """``price_metrics`` of each candidate's out-of-fold prices (log predictions averaged over repeats)."""
        return {name: price_metrics(self.price, np.exp(r.oof.mean(axis=0))) for name, r in self.cv.items()}

    def valuer(self, data: Dataset) -> Valuer:
        pipelines = [self.fitted[name].regressor_ for name in self.weights]
        encoder = pipelines[0].named_steps["features"]
        members = [
            (name, weight, pipe.named_steps["model"])
            for (name, weight), pipe in zip(self.weights.items(), pipelines, strict=True)
        ]
        Z = encoder.transform(data.features)
        c = {n: i for i, n in enumerate(encoder.feature_names_)}
        index = ComparablesIndex(data, Z[:, c["longitude"]], Z[:, c["latitude"]])
        guard = ApplicabilityGuard().fit(data.features, data.sold)
        return Valuer(encoder, members, self.intervals, index, guard)


def build(data: Dataset, candidates: list[Candidate], n_folds: int, n_repeats: int, progress: bool) -> BuiltModel:
    splits = make_splits(len(data), n_folds, n_repeats)
    log_price = np.log(data.price)
    results: dict[str, CVResult] = {}
    for candidate in candidates:
        results[candidate.name] = cross_validate(candidate, data, splits, progress)
        log.info("candidate_cv", candidate=candidate.name, rmse=round(results[candidate.name].rmse, 4))
    servable = {c.name for c in candidates if c.servable}
    ordered = [r for r in results.values() if r.name in servable]
    best = min(ordered, key=lambda r: r.rmse)
    selected, weights, oof = best.name, {best.name: 1.0}, best.oof
    if len(ordered) > 1:
        blend = cross_validate_blend(ordered, data, splits)
        results["blend"] = blend
        log.info("candidate_cv", candidate="blend", rmse=round(blend.rmse, 4))
        if blend.rmse < best.rmse:
            stacked = np.stack([r.oof for r in ordered], axis=-1).reshape(-1, len(ordered))
            w = fit_blend_weights(stacked, np.tile(log_price, n_repeats))
            selected, oof = "blend", blend.oof
            weights = {r.name: float(wi) for r, wi in zip(ordered, w, strict=True) if wi > 1e-6}
            total = sum(weights.values())
            weights = {k: v / total for k, v in weights.items()}
    by_name = {c.name: c for c in candidates}
    fitted = {name: by_name[name].pipeline().fit(data.features, data.price) for name in weights}
    encoder = next(iter(fitted.values())).regressor_.named_steps["features"]
    Z = FeatureEncoder(**encoder.get_params()).fit_transform(data.features, log_price)
    abs_residuals = np.abs(oof - log_price[None, :])
    power = choose_power(Z, abs_residuals, INTERVAL_LEVELS)
    intervals = AdaptiveIntervals(power=power).fit(Z, abs_residuals, CALIBRATED_LEVELS)
    members = {name: by_name[name] for name in weights}
    intervals.widen(year_ahead_factors(data, members, weights, oof.mean(axis=0)))
    return BuiltModel(results, selected, weights, oof, intervals, fitted, data.price)


def year_ahead_factors(
    data: Dataset, members: dict[str, Candidate], weights: dict[str, float], oof: np.ndarray
) -> dict[float, float]:
    """Per calibrated level (the intervals' and the FSD's): |residual| quantile of the latest sale
    year predicted from the earlier years, over the out-of-fold quantile of all sales (the errors
    the intervals are calibrated on). The ratio carries both the cost of predicting ahead and how
    noisy the latest year's market was against the average year. 1.0 when there is no earlier
    year or too few sales."""
    years = data.features["year_sold"].to_numpy()
    latest = years == years.max()
    if latest.sum() < MIN_YEAR_AHEAD_ROWS or (~latest).sum() < MIN_YEAR_AHEAD_ROWS:
        return dict.fromkeys(CALIBRATED_LEVELS, 1.0)
    earlier, later = data.subset(~latest), data.subset(latest)
    predicted = sum(
        weight * np.log(members[name].pipeline().fit(earlier.features, earlier.price).predict(later.features))
        for name, weight in weights.items()
    )
    ahead, in_period = np.abs(predicted - np.log(later.price)), np.abs(oof - np.log(data.price))
    factors = {level: float(np.quantile(ahead, level) / np.quantile(in_period, level)) for level in CALIBRATED_LEVELS}
    log.info(
        "year_ahead_factors",
        year=int(years.max()),
        **{f"level_{round(k * 100)}": round(v, 3) for k, v in factors.items()},
    )
    return factors
