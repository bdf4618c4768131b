"""The recalibration state a model starts from: what its own backtest says about each segment.

The online tracker (``infra.recalibration``) corrects every served interval from the sales fed back,
starting from the model's intervals as trained. Those are calibrated on out-of-fold residuals, which
hold every segment to one multiplier; but the year-ahead checks before 2009 covered the low grades
87.0 % (2007) and 87.8 % (2008) of the time at 90 %, against 91.6 % and 94.1 % overall, and new
construction 85.2 % in 2007. At a rate steady enough for the big segments, a segment of a few dozen
sales a year takes most of a year of feedback to catch up.

So training settles the same tracker on the model's backtest: the nested rolling origins' year-ahead
valuations (sales each origin's recipe never saw, all within the training data), fed back in date
order ``SETTLE_PASSES`` times at ``SETTLE_RATE``, until every band's misses sit near its level. The
model applies the settled terms to its own intervals (``training.serving``), and live feedback then
corrects from there. The first origin has no backtest, and a model trained without the year-ahead
checks starts from zero, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dataset.sales import Dataset
from infra.recalibration import Adjustments, Tracker, model_bounds, row_intervals, segments_of
from schemas import Interval
from schemas.calibration import Segment

SETTLE_RATE = 0.02
SETTLE_PASSES = 30
"""Thirty passes at 0.02 settle every term within a step or two of where more passes would leave it
(on the pre-2009 backtest, 60 passes at 0.01 moved no 90 % term by more than 0.03)."""


@dataclass(frozen=True)
class FedBack:
    """One valued sale: the model's answer, its segment, the sale price and the year sold."""

    price: float
    intervals: tuple[Interval, ...]
    segment: Segment
    sale_price: float
    year: int


def fed_back(answers: pd.DataFrame, sales: Dataset, price_edges: tuple[float, float]) -> list[FedBack]:
    """A batch's answers (``predict_frame``) for ``sales`` with their sale prices, in order of sale
    (ties in data order)."""
    houses = sales.features
    price = answers["price"].to_numpy(float)
    segments = segments_of(houses["sale_condition"].tolist(), houses["overall_qual"].tolist(), price, price_edges)
    intervals = row_intervals(model_bounds(answers))
    years = houses["year_sold"].to_numpy(int)
    return [
        FedBack(float(price[i]), tuple(intervals[i]), segments[i], float(sales.price[i]), int(years[i]))
        for i in np.argsort(sales.sold, kind="stable").tolist()
    ]


def settle(backtest: Sequence[FedBack]) -> Adjustments:
    """The tracker's terms after ``SETTLE_PASSES`` passes over ``backtest``; none (zero) without one."""
    tracker = Tracker(SETTLE_RATE)
    for _ in range(SETTLE_PASSES if backtest else 0):
        for sale in backtest:
            tracker.feed(sale.price, sale.intervals, sale.segment, sale.sale_price)
    return tracker.adjustments
