"""Intervals that correct themselves from observed sale prices: online quantile tracking per segment.

The model's intervals are calibrated once, at training, on sales before it. Markets move and
some kinds of houses are harder than the training years said (in the 2009-10 year-ahead checks
new construction and low grades were covered about 81 % of the time at 90 %). So every served
interval's log-radius (its distance from the price in log space, each side) is multiplied by a
factor that moves with the sales fed back:

    log factor(x, level) = sum over groupings g of theta[level, g, band_g(x)]

and, for each sale fed back, every term its valuation used takes one step

    theta <- clip(theta + rate * (missed - (1 - level)), -BOUND, BOUND)

where ``missed`` is 1 when the sale fell outside the interval that was actually served. This is
the quantile tracker of conformal PID control (Angelopoulos, Barber and Bates, 2023; the "P"
part), i.e. adaptive conformal inference (Gibbs and Candes, 2021) run on the radius instead of
on the level, here as online gradient descent on the pinball loss with one indicator per
segment. Summing the steps of one band gives its guarantee: the sales of band b miss
(1 - level) of the time, up to (theta_end - theta_start) / (rate * n_b), whatever the market
does, for every band of every grouping at once although the groupings overlap. A miss widens
the band's intervals by ``rate * level`` in log factor, a hit narrows them by
``rate * (1 - level)``.

Segments (``schemas.calibration.Segment``): construction (new: ``sale_condition`` Partial),
grade band (low: Below_Average or worse; mid: Average, Above_Average; high: Good or better;
ungraded) and price band (the predicted price against two edges). Additive terms, not one
factor per cell: the 2 x 4 x 3 cells would each see a few sales a month, too few to learn from.

Why no library: MAPIE's time-series ACI, crepes' Mondrian conformal and puncc each hold one
in-process calibration set per model object (ACI over one stream of residuals), refit or
recompute quantiles on it, and have no per-segment online update; this state must live in
Redis, shared by several API processes updating it at once (``state.calibration``). The rule
is the few lines below, used alike by the Redis store, the workers and the replay test.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import numpy as np

from schemas.calibration import BANDS, GROUPINGS, Grouping, Segment
from schemas.features import CONDITIONS
from schemas.valuation import INTERVAL_LEVELS, Interval

if TYPE_CHECKING:
    import pandas as pd

Number = TypeVar("Number", float, np.ndarray)
Bounds = dict[float, tuple[np.ndarray, np.ndarray]]
"""Interval level -> (lower bounds, upper bounds), one entry per row."""

BOUND = math.log(2.0)
"""Largest |theta| of one band: each grouping may halve or double the radius, the three together 8x."""
NEW_CONSTRUCTION = "Partial"
LOW_GRADES = frozenset(CONDITIONS[:4])  # Very_Poor .. Below_Average (1-4)
MID_GRADES = frozenset(CONDITIONS[4:6])  # Average, Above_Average (5-6)


def segment_of(
    sale_condition: str, overall_qual: str | None, price: float, price_edges: tuple[float, float]
) -> Segment:
    low, high = price_edges
    price_band = "low" if price < low else "high" if price >= high else "mid"
    return _segment(_construction(sale_condition), _grade_band(overall_qual), price_band)


def segments_of(
    sale_conditions: Iterable[object], grades: Iterable[object], price: np.ndarray, price_edges: tuple[float, float]
) -> list[Segment]:
    """``segment_of`` for a batch: a grade that is not a string (``None``, NaN, ``pd.NA``) is missing."""
    return [
        segment_of(str(condition), grade if isinstance(grade, str) else None, p, price_edges)
        for condition, grade, p in zip(sale_conditions, grades, price.tolist(), strict=True)
    ]


def _construction(sale_condition: str) -> str:
    return "new" if sale_condition == NEW_CONSTRUCTION else "existing"


def _grade_band(overall_qual: str | None) -> str:
    if overall_qual is None:
        return "ungraded"
    if overall_qual in LOW_GRADES:
        return "low"
    return "mid" if overall_qual in MID_GRADES else "high"


@functools.cache
def _segment(construction: str, grade: str, price: str) -> Segment:
    """One object per segment (24 in all): a worker builds a segment for every valuation."""
    return Segment.model_validate({"construction": construction, "grade": grade, "price": price})


def term(level: float, grouping: Grouping, band: str) -> str:
    """The name of one band's term at one level, e.g. ``90|grade|low``."""
    return f"{round(level * 100)}|{grouping}|{band}"


def all_terms() -> list[tuple[float, Grouping, str]]:
    return [(level, g, band) for level in INTERVAL_LEVELS for g in GROUPINGS for band in BANDS[g]]


def start_metric(name: str) -> str:
    """The training run's metric that records a term of the intervals' start (``training.warm_start``),
    e.g. ``interval_start_90_grade_low``: MLflow's metric names have no ``|``."""
    return "interval_start_" + name.replace("|", "_")


def start_metrics(start: Adjustments) -> dict[str, float]:
    """A start's terms as the training run's metrics."""
    return {start_metric(name): theta for name, theta in start.log_factors.items()}


def start_of(metrics: Mapping[str, float]) -> dict[str, float]:
    """The start's terms from a run's metrics (none for a version trained before the start existed)."""
    names = (term(level, g, band) for level, g, band in all_terms())
    return {name: metrics[start_metric(name)] for name in names if start_metric(name) in metrics}


class Step(NamedTuple):
    term: str
    step: float
    missed: bool


def steps(segment: Segment, missed: Mapping[float, bool], learning_rate: float) -> list[Step]:
    """Each term's step for one sale, given whether it fell outside each level's served interval."""
    return [
        Step(term(level, g, segment.band(g)), learning_rate * (float(miss) - (1.0 - level)), miss)
        for level, miss in missed.items()
        for g in GROUPINGS
    ]


def clip(theta: float) -> float:
    return min(BOUND, max(-BOUND, theta))


def missed_by(intervals: Sequence[Interval], sale_price: float) -> dict[float, bool]:
    return {i.level: not i.lower <= sale_price <= i.upper for i in intervals}


def rescale(price: Number, lower: Number, upper: Number, factor: Number) -> tuple[Number, Number]:
    """The bounds with each side's log distance from the price multiplied by ``factor`` (numbers or columns)."""
    return price * (lower / price) ** factor, price * (upper / price) ** factor


def model_bounds(output: pd.DataFrame) -> Bounds:
    """The model's intervals as columns (``lower_80``, ``upper_80``, ...) by level."""
    pcts = {level: round(level * 100) for level in INTERVAL_LEVELS}
    return {
        level: (output[f"lower_{pct}"].to_numpy(float), output[f"upper_{pct}"].to_numpy(float))
        for level, pct in pcts.items()
    }


def row_intervals(bounds: Bounds) -> list[list[Interval]]:
    """Each row's intervals (narrowest level first) from the columns of a batch."""
    columns = [(level, lower.tolist(), upper.tolist()) for level, (lower, upper) in sorted(bounds.items())]
    count = len(columns[0][1]) if columns else 0
    return [
        [Interval(level=level, lower=lows[k], upper=highs[k]) for level, lows, highs in columns] for k in range(count)
    ]


@dataclass(frozen=True)
class Adjustments:
    """A snapshot of the terms (missing ones are 0): what a worker applies to every valuation."""

    log_factors: Mapping[str, float] = field(default_factory=dict)
    _factors: dict[tuple[Segment, float], float] = field(default_factory=dict, init=False, repr=False, compare=False)

    def factor(self, segment: Segment, level: float) -> float:
        known = self._factors.get((segment, level))
        if known is None:
            known = math.exp(sum(self.log_factors.get(term(level, g, segment.band(g)), 0.0) for g in GROUPINGS))
            self._factors[(segment, level)] = known
        return known

    def factors(self, segments: Sequence[Segment], levels: Iterable[float]) -> dict[float, np.ndarray]:
        """Each row's factor at each level, by its segment (looked up once per distinct segment: a batch
        has at most 24)."""
        index: dict[Segment, int] = {}
        codes = np.fromiter((index.setdefault(s, len(index)) for s in segments), dtype=np.intp, count=len(segments))
        return {level: np.array([self.factor(s, level) for s in index], dtype=float)[codes] for level in levels}

    def scale_radius(self, radius: Mapping[float, np.ndarray], segments: Sequence[Segment]) -> dict[float, np.ndarray]:
        """Each level's log half-width times its row's factor; a narrower level never reaches past a wider one
        (a level without terms keeps factor 1)."""
        cap = np.full(len(segments), math.inf)
        scaled = {}
        factors = self.factors(segments, radius)
        for level in sorted(radius, reverse=True):  # widest first
            cap = np.minimum(radius[level] * factors[level], cap)
            scaled[level] = cap
        return dict(sorted(scaled.items()))

    def apply_columns(self, price: np.ndarray, bounds: Bounds, segments: Sequence[Segment]) -> Bounds:
        """Each level's bounds rescaled, row by row, by its row's segment factor; a narrower level never
        reaches past a wider one."""
        lower, upper = np.zeros(len(price)), np.full(len(price), math.inf)
        adjusted: Bounds = {}
        factors = self.factors(segments, bounds)
        for level in sorted(bounds, reverse=True):  # widest first
            low, high = rescale(price, *bounds[level], factors[level])
            lower, upper = np.maximum(low, lower), np.minimum(high, upper)
            adjusted[level] = (lower, upper)
        return dict(sorted(adjusted.items()))

    def apply(self, price: float, intervals: Sequence[Interval], segment: Segment) -> list[Interval]:
        """One valuation's intervals, by ``apply_columns`` (narrowest level first)."""
        one = {i.level: (np.array([i.lower]), np.array([i.upper])) for i in intervals}
        adjusted = self.apply_columns(np.array([price]), one, [segment])
        return [Interval(level=level, lower=float(lo[0]), upper=float(hi[0])) for level, (lo, hi) in adjusted.items()]


@dataclass
class Tracker:
    """The whole state in memory: the replay test's (and any single process's) version of the Redis store."""

    learning_rate: float
    log_factors: dict[str, float] = field(default_factory=dict)
    sales: dict[str, int] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)

    @property
    def adjustments(self) -> Adjustments:
        return Adjustments(dict(self.log_factors))

    def feed(self, price: float, intervals: Sequence[Interval], segment: Segment, sale_price: float) -> list[Interval]:
        """One sale fed back for a valuation with the model's ``intervals``: what was served (the state
        of the moment applied), after which the state takes its step."""
        served = self.adjustments.apply(price, intervals, segment)
        self.observe(segment, missed_by(served, sale_price))
        return served

    def observe(self, segment: Segment, missed: Mapping[float, bool]) -> None:
        for name, step, miss in steps(segment, missed, self.learning_rate):
            self.log_factors[name] = clip(self.log_factors.get(name, 0.0) + step)
            self.sales[name] = self.sales.get(name, 0) + 1
            self.missed[name] = self.missed.get(name, 0) + int(miss)
