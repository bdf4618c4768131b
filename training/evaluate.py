"""One evaluation protocol for every candidate: repeated K-fold CV of ln(price) and price metrics.

* ``cross_validate``: out-of-fold log predictions on shared splits, RMSE per fold, its mean
  and standard error (std of fold RMSEs / sqrt(number of folds)).
* ``price_metrics``: RMSE of ln(price), median and mean absolute % error, share within 5/10/20 %, and
  the IAAO ratio-study figures COD, PRD and PRB (defined in ``ratio_study``).
* ``bootstrap_ci``: a 95 % percentile bootstrap interval of any of these on a test set (rows
  resampled together, via ``scipy.stats.bootstrap``), so a holdout figure is read with its noise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import KFold
from tqdm import tqdm

from dataset.sales import Dataset
from ratios import study as ratio_study
from training.candidates import Candidate

Split = tuple[int, np.ndarray, np.ndarray]


@dataclass
class CVResult:
    name: str
    oof: np.ndarray
    fold_rmse: list[float] = field(default_factory=list)

    @property
    def rmse(self) -> float:
        return float(np.mean(self.fold_rmse))

    @property
    def se(self) -> float:
        return float(np.std(self.fold_rmse, ddof=1) / np.sqrt(len(self.fold_rmse))) if len(self.fold_rmse) > 1 else 0.0


def make_splits(n_rows: int, n_folds: int, n_repeats: int, seed: int = 42) -> list[Split]:
    splits: list[Split] = []
    for repeat in range(n_repeats):
        folds = KFold(n_splits=n_folds, shuffle=True, random_state=seed + repeat)
        splits.extend((repeat, train, test) for train, test in folds.split(np.arange(n_rows)))
    return splits


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def cross_validate(candidate: Candidate, data: Dataset, splits: Sequence[Split], progress: bool) -> CVResult:
    """Out-of-fold ln(price) predictions, shape (repeats, rows)."""
    n_repeats = max(split[0] for split in splits) + 1
    result = CVResult(candidate.name, np.full((n_repeats, len(data)), np.nan))
    log_price = np.log(data.price)
    iterator: Iterable[Split] = splits
    if progress:
        iterator = tqdm(splits, desc=f"CV {candidate.name}", leave=False)
    for repeat, train, test in iterator:
        model = candidate.pipeline().fit(data.features.iloc[train], data.price[train])
        predicted = np.log(model.predict(data.features.iloc[test]))
        result.oof[repeat, test] = predicted
        result.fold_rmse.append(rmse(predicted, log_price[test]))
    return result


def fit_blend_weights(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one (NNLS on the prediction columns, then normalised)."""
    from scipy.optimize import nnls

    weights, _ = nnls(predictions, target)
    total = weights.sum()
    if total <= 0:
        weights = np.full(predictions.shape[1], 1.0 / predictions.shape[1])
        return weights
    return np.asarray(weights / total)


def cross_validate_blend(results: Sequence[CVResult], data: Dataset, splits: Sequence[Split]) -> CVResult:
    """Blend RMSE with weights refitted per fold on the other folds' out-of-fold predictions."""
    log_price = np.log(data.price)
    stacked = np.stack([r.oof for r in results], axis=-1)
    blend = CVResult("blend", np.full(stacked.shape[:2], np.nan))
    for repeat, train, test in splits:
        weights = fit_blend_weights(stacked[repeat, train], log_price[train])
        predicted = stacked[repeat, test] @ weights
        blend.oof[repeat, test] = predicted
        blend.fold_rmse.append(rmse(predicted, log_price[test]))
    return blend


def price_metrics(price: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    abs_pct = np.abs(predicted / price - 1.0)
    return {
        "rmse_log": rmse(np.log(predicted), np.log(price)),
        "median_abs_pct_error": float(100 * np.median(abs_pct)),
        "mean_abs_pct_error": float(100 * np.mean(abs_pct)),
        "within_5pct": float(100 * np.mean(abs_pct <= 0.05)),
        "within_10pct": float(100 * np.mean(abs_pct <= 0.10)),
        "within_20pct": float(100 * np.mean(abs_pct <= 0.20)),
        "cod": float(ratio_study.cod(predicted, price)),
        "prd": float(ratio_study.prd(predicted, price)),
        "prb": float(ratio_study.prb(predicted, price)),
    }


def coverage(price: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    return float(100 * np.mean((price >= lower) & (price <= upper)))
