"""Ratio study by segment: the assessors' uniformity and vertical-equity figures, with verdicts.

Definitions follow the IAAO *Standard on Ratio Studies* (2013), on ratio = predicted / sale:

* COD, coefficient of dispersion: 100 x mean |ratio - median ratio| / median ratio.
* PRD, price-related differential: mean ratio / (sum predicted / sum sale) (the mean over the
  sale-weighted mean ratio). Above 1: cheaper houses valued relatively higher (regressive).
* PRB, coefficient of price-related bias (the standard's Appendix B regression): the slope of
  (ratio - median) / median on log2 of the value proxy 0.5 x predicted / median ratio + 0.5 x sale.
  A PRB of 0.02 means ratios rise 2 % each time value doubles.

Thresholds (the standard's section 9.1, Table 1-3 for COD, and section 9.2.7 for PRD and PRB):

* level: median ratio between 0.90 and 1.10.
* COD <= 15 for single-family residential generally (older or more heterogeneous areas), <= 10
  for newer or more homogeneous ones (here: new construction and houses up to 15 years old).
  The standard's lower bound of 5 flags sales chasing by an assessor who sees the sales; an
  automated valuation scored on sales it never saw cannot chase them, so it is not applied.
* PRD between 0.98 and 1.03.
* PRB between -0.05 and 0.05.

Every figure carries a 95 % percentile bootstrap interval (sales resampled with their
valuations, ``scipy.stats.bootstrap``). A verdict is ``pass`` when the figure meets the
threshold, ``fail`` when it does not and its whole interval lies outside the acceptable range
(the standard reads a PRD or PRB as conclusive only then), ``uncertain`` otherwise, and
``too_few_sales`` below ``MIN_SALES_FOR_VERDICT`` sales.

Segments: neighbourhood; decile of the predicted value (deciles of the sale price would show
regressivity that is only the sale prices' own noise, which the standard warns about; and PRD
and PRB, which measure vertical equity across values, are not computed within a decile, where
they would measure the same noise); age at sale; new construction (``Partial`` sales, or built
in the year of sale or the year before).
``errors_by_group`` gives error and interval coverage by neighbourhood price tier.

``live_study`` computes the same from the sale prices sent back as feedback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ratios.bootstrap import bootstrap_ci
from schemas.ratio_study import Figure, RatioStudy, SaleObservation, SegmentErrors, SegmentRatioStudy, Verdict

COD_LIMIT_RESIDENTIAL = 15.0
COD_LIMIT_NEWER_HOMOGENEOUS = 10.0
PRD_RANGE = (0.98, 1.03)
PRB_RANGE = (-0.05, 0.05)
LEVEL_RANGE = (0.90, 1.10)
MIN_SALES = 5
"""Fewest sales a segment's figures are computed for (PRB needs a regression)."""
MIN_SALES_FOR_VERDICT = 20
NEWER_AGE = 15
AGE_BANDS = ((0, 2, "0-2 years"), (3, 15, "3-15 years"), (16, 40, "16-40 years"), (41, 70, "41-70 years"))
OLDEST_BAND = "71+ years"
NEW_CONSTRUCTION = "new construction"
EXISTING = "existing"
PRICE_DECILE = "price_decile"
WITHIN_VALUE_BAND = frozenset({PRICE_DECILE})
"""Dimensions whose segments are narrow bands of value: no PRD or PRB within them."""
PRICE_TIERS = ("lower-priced neighbourhoods", "middle-priced neighbourhoods", "upper-priced neighbourhoods")
N_RESAMPLES = 500


def _median_ratio(ratio: np.ndarray) -> np.ndarray:
    return np.asarray(np.median(ratio, axis=-1, keepdims=True))


def level(predicted: np.ndarray, sale: np.ndarray, axis: int = -1) -> np.ndarray:
    """The median ratio along the last axis."""
    return np.asarray(np.median(np.moveaxis(predicted / sale, axis, -1), axis=-1))


def cod(predicted: np.ndarray, sale: np.ndarray, axis: int = -1) -> np.ndarray:
    """Coefficient of dispersion, percent, along the last axis (so it can score many resamples at once)."""
    ratio = np.moveaxis(predicted / sale, axis, -1)
    median = _median_ratio(ratio)
    return np.asarray(100 * np.mean(np.abs(ratio - median), axis=-1) / median[..., 0])


def prd(predicted: np.ndarray, sale: np.ndarray, axis: int = -1) -> np.ndarray:
    predicted, sale = np.moveaxis(predicted, axis, -1), np.moveaxis(sale, axis, -1)
    return np.asarray(np.mean(predicted / sale, axis=-1) / (predicted.sum(axis=-1) / sale.sum(axis=-1)))


def prb(predicted: np.ndarray, sale: np.ndarray, axis: int = -1) -> np.ndarray:
    """The least-squares slope of the standard's regression (see the module docstring)."""
    predicted, sale = np.moveaxis(predicted, axis, -1), np.moveaxis(sale, axis, -1)
    ratio = predicted / sale
    median = _median_ratio(ratio)
    y = (ratio - median) / median
    x = np.log2(0.5 * predicted / median + 0.5 * sale)
    dx = x - x.mean(axis=-1, keepdims=True)
    dy = y - y.mean(axis=-1, keepdims=True)
    return np.asarray(np.sum(dx * dy, axis=-1) / np.sum(dx * dx, axis=-1))


def _bootstrap(
    statistic: Callable[..., np.ndarray], predicted: np.ndarray, sale: np.ndarray, seed: int
) -> tuple[float, float]:
    low, high = bootstrap_ci(statistic, (predicted, sale), N_RESAMPLES, seed, vectorized=True)
    return (low, high) if np.isfinite(low) and np.isfinite(high) else (float("nan"), float("nan"))


def verdict(value: float, interval: tuple[float, float], acceptable: tuple[float, float], sales: int) -> Verdict:
    """The standard's reading of one figure (see the module docstring)."""
    if sales < MIN_SALES_FOR_VERDICT:
        return "too_few_sales"
    low, high = acceptable
    if low <= value <= high:
        return "pass"
    if np.isnan(interval[0]) or interval[1] < low or interval[0] > high:
        return "fail"
    return "uncertain"


def _figure(
    statistic: Callable[..., np.ndarray],
    predicted: np.ndarray,
    sale: np.ndarray,
    acceptable: tuple[float, float],
    seed: int,
) -> Figure:
    value = float(statistic(predicted, sale))
    interval = _bootstrap(statistic, predicted, sale, seed)
    shown = (None, None) if np.isnan(interval[0]) else interval
    return Figure(
        value=value, ci_low=shown[0], ci_high=shown[1], verdict=verdict(value, interval, acceptable, len(sale))
    )


def segment_study(
    dimension: str, segment: str, predicted: np.ndarray, sale: np.ndarray, cod_limit: float, seed: int = 0
) -> SegmentRatioStudy:
    """COD, PRD and PRB of one segment's sales, with intervals and verdicts."""
    predicted, sale = np.asarray(predicted, dtype=float), np.asarray(sale, dtype=float)
    vertical = dimension not in WITHIN_VALUE_BAND
    return SegmentRatioStudy(
        dimension=dimension,
        segment=segment,
        sales=len(sale),
        median_ratio=float(np.median(predicted / sale)),
        level=_figure(level, predicted, sale, LEVEL_RANGE, seed),
        cod=_figure(cod, predicted, sale, (0.0, cod_limit), seed),
        prd=_figure(prd, predicted, sale, PRD_RANGE, seed) if vertical else None,
        prb=_figure(prb, predicted, sale, PRB_RANGE, seed) if vertical else None,
        cod_limit=cod_limit,
    )


def age_band(age: np.ndarray) -> np.ndarray:
    labels = np.full(len(age), OLDEST_BAND, dtype=object)
    for low, high, label in reversed(AGE_BANDS):
        labels[(age >= low) & (age <= high)] = label
    return labels


def new_construction(sales: pd.DataFrame) -> np.ndarray:
    """``Partial`` sales (sold before completion) and houses sold in their build year or the year after."""
    age = sales["year_sold"].to_numpy() - sales["year_built"].to_numpy()
    return np.asarray((sales["sale_condition"].to_numpy() == "Partial") | (age <= 1))


def price_decile(predicted: np.ndarray) -> np.ndarray:
    ranks = pd.Series(predicted).rank(method="first").to_numpy()
    decile = np.minimum((10 * (ranks - 1) / len(predicted)).astype(int), 9)
    return np.array([f"D{d + 1}" for d in decile], dtype=object)


def segment_labels(sales: pd.DataFrame, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """Each sale's segment along every dimension of the study. ``sales`` needs ``neighborhood``,
    ``year_built``, ``year_sold`` and ``sale_condition``."""
    age = sales["year_sold"].to_numpy() - sales["year_built"].to_numpy()
    new = new_construction(sales)
    return {
        "all": np.full(len(sales), "all sales", dtype=object),
        "neighbourhood": sales["neighborhood"].to_numpy(dtype=object),
        PRICE_DECILE: price_decile(predicted),
        "age_band": age_band(age),
        "new_construction": np.where(new, NEW_CONSTRUCTION, EXISTING).astype(object),
    }


def cod_limit(dimension: str, segment: str) -> float:
    """10 for newer, homogeneous segments (new construction, houses up to 15 years old), else 15."""
    newer = {NEW_CONSTRUCTION, *(label for low, high, label in AGE_BANDS if high <= NEWER_AGE)}
    return COD_LIMIT_NEWER_HOMOGENEOUS if segment in newer else COD_LIMIT_RESIDENTIAL


def neighbourhood_tiers(neighborhood: np.ndarray, price: np.ndarray) -> dict[str, str]:
    """Neighbourhoods in thirds by their median sale price: lower-, middle- and upper-priced."""
    medians = pd.Series(price).groupby(pd.Series(neighborhood)).median().sort_values()
    thirds = np.array_split(np.asarray(medians.index, dtype=object), len(PRICE_TIERS))
    return {str(name): tier for tier, names in zip(PRICE_TIERS, thirds, strict=True) for name in names}


def errors_by_group(
    groups: np.ndarray,
    predicted: np.ndarray,
    sale: np.ndarray,
    intervals: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> list[SegmentErrors]:
    """Median abs % error, RMSE of ln(price) and coverage of each interval level, per group and overall."""
    rows = []
    for group in [*sorted(set(groups), key=_tier_order), "all sales"]:
        mask = np.ones(len(sale), dtype=bool) if group == "all sales" else groups == group
        p, s = predicted[mask], sale[mask]
        rows.append(
            SegmentErrors(
                group=str(group),
                sales=int(mask.sum()),
                median_abs_pct_error=float(100 * np.median(np.abs(p / s - 1))),
                rmse_log=float(np.sqrt(np.mean(np.log(p / s) ** 2))),
                coverage={
                    level: float(100 * np.mean((s >= lower[mask]) & (s <= upper[mask])))
                    for level, (lower, upper) in intervals.items()
                },
            )
        )
    return rows


def _segment_order(segment: str) -> tuple[int, str]:
    """Deciles by number and age bands youngest first; other segments by name."""
    ordered = [*(f"D{d}" for d in range(1, 11)), *(label for _, _, label in AGE_BANDS), OLDEST_BAND]
    return (ordered.index(segment), "") if segment in ordered else (len(ordered), segment)


def _tier_order(group: str) -> tuple[int, str]:
    return (PRICE_TIERS.index(group) if group in PRICE_TIERS else len(PRICE_TIERS), group)


def ratio_study(
    source: str,
    sales: pd.DataFrame,
    predicted: np.ndarray,
    sale: np.ndarray,
    intervals: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    tiers: Mapping[str, str] | None = None,
) -> RatioStudy:
    """The whole study: every segment of every dimension with ``MIN_SALES`` or more sales, and the
    error table by neighbourhood price tier (``tiers``: neighbourhood to tier, by default
    computed from these sales)."""
    predicted, sale = np.asarray(predicted, dtype=float), np.asarray(sale, dtype=float)
    segments = []
    for dimension, labels in segment_labels(sales, predicted).items():
        for segment in sorted(set(labels), key=_segment_order):
            mask = labels == segment
            if mask.sum() >= MIN_SALES:
                segments.append(
                    segment_study(
                        dimension, str(segment), predicted[mask], sale[mask], cod_limit(dimension, str(segment))
                    )
                )
    neighborhood = sales["neighborhood"].to_numpy(dtype=object)
    tier_of = dict(tiers) if tiers is not None else neighbourhood_tiers(neighborhood, sale)
    groups = np.array([tier_of.get(str(n), "neighbourhoods unseen in training") for n in neighborhood], dtype=object)
    return RatioStudy(
        source=source,
        sales=len(sale),
        segments=segments,
        errors_by_group=errors_by_group(groups, predicted, sale, intervals or {}),
    )


def live_study(
    observations: Sequence[SaleObservation], tiers: Mapping[str, str] | None = None, source: str = "feedback"
) -> RatioStudy:
    """The same study from sale prices sent back for served valuations (one model version's, or
    every version's pooled: the caller chooses which observations to pass)."""
    if not observations:
        return RatioStudy(source=source, sales=0)
    sales = pd.DataFrame(
        {
            "neighborhood": [o.neighborhood for o in observations],
            "year_built": [o.year_built for o in observations],
            "year_sold": [o.year_sold for o in observations],
            "sale_condition": [o.sale_condition for o in observations],
        }
    )
    levels = sorted({level for o in observations for level in o.intervals})
    served = [level for level in levels if all(level in o.intervals for o in observations)]
    intervals = {
        level: (
            np.array([o.intervals[level][0] for o in observations]),
            np.array([o.intervals[level][1] for o in observations]),
        )
        for level in served
    }
    return ratio_study(
        source,
        sales,
        np.array([o.predicted for o in observations]),
        np.array([o.sale_price for o in observations]),
        intervals,
        tiers,
    )
