"""Replay of the intervals' online recalibration on sales the model never saw, in date order.

The recipe (quick tier) is fitted on the sales before ``FIRST_REPLAYED_YEAR``; every later sale is
then valued with the state of the moment (``infra.recalibration``) and fed back at once, in order
of its sale month (ties in data order). The learning rate is chosen on the first replayed year
alone (``choose_rate``); the years after it are the test.

``python -m training.recalibration_replay`` prints the figures the README quotes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dataset.sales import Dataset, load
from infra.recalibration import Tracker, missed_by, segment_of
from infra.settings import Settings
from schemas import INTERVAL_LEVELS, Interval
from schemas.calibration import GROUPINGS, Segment
from training.candidates import candidates
from training.pipeline import protocol
from training.recipe import build

FIRST_REPLAYED_YEAR = 2009
RATES = (0.0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2)
TARGET_LEVEL = 0.9
YEAR_TOLERANCE = 0.02
SEGMENT_TOLERANCE = 0.03
MIN_SEGMENT_SALES = 60
"""Segments with fewer sales in a period are held to ``MAX_STANDARD_ERRORS`` instead of the points
tolerance: below 60 sales one miss moves the coverage by more than 1.6 points."""
RATE_STANDARD_ERRORS = 1.0
"""The rate rule's bound on every segment of the first year, however small, in binomial standard errors."""
MAX_STANDARD_ERRORS = 2.0
"""What the test holds every segment of every period to, in binomial standard errors of its own size."""


@dataclass(frozen=True)
class FedBack:
    """One replayed sale: the model's answer, its segment, the sale price and the year sold."""

    price: float
    intervals: tuple[Interval, ...]
    segment: Segment
    sale_price: float
    year: int


def replayed_sales(data: Dataset, first_year: int, price_edges: tuple[float, float]) -> list[FedBack]:
    """The quick recipe fitted on the sales before ``first_year``; the later sales valued, in date order."""
    years = data.features["year_sold"].to_numpy()
    train, later = data.subset(years < first_year), data.subset(years >= first_year)
    proto = protocol(quick=True)
    built = build(train, candidates(quick=True, use_tf=False), proto.n_folds, proto.n_repeats, progress=False)
    answers = built.valuer(train).predict_frame(later.features)
    order = np.argsort(later.sold, kind="stable")
    sales = []
    for i in order:
        row, house = answers.iloc[i], later.features.iloc[i]
        price = float(row["price"])
        intervals = tuple(
            Interval(level=level, lower=float(row[f"lower_{pct}"]), upper=float(row[f"upper_{pct}"]))
            for level, pct in ((level, round(level * 100)) for level in INTERVAL_LEVELS)
        )
        segment = segment_of(str(house["sale_condition"]), _grade(house["overall_qual"]), price, price_edges)
        sales.append(FedBack(price, intervals, segment, float(later.price[i]), int(house["year_sold"])))
    return sales


def _grade(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def replay(sales: list[FedBack], learning_rate: float) -> pd.DataFrame:
    """One row per sale: its year, bands, and whether the served 80 % / 90 % intervals missed it."""
    tracker = Tracker(learning_rate)
    rows = []
    for sale in sales:
        served = tracker.adjustments.apply(sale.price, sale.intervals, sale.segment)
        missed = missed_by(served, sale.sale_price)
        tracker.observe(sale.segment, missed)
        rows.append(
            {"year": sale.year}
            | {g: sale.segment.band(g) for g in GROUPINGS}
            | {f"covered_{round(lv * 100)}": not miss for lv, miss in missed.items()}
            | {"log_width_90": float(np.log(served[-1].upper / served[-1].lower))}
        )
    return pd.DataFrame(rows)


def coverage_table(replayed: pd.DataFrame) -> pd.DataFrame:
    """Coverage by period (each year and all years) and segment ("all", or one band of one grouping)."""
    periods = [(str(y), replayed[replayed["year"] == y]) for y in sorted(replayed["year"].unique())]
    periods.append(("all years", replayed))
    rows = []
    for period, part in periods:
        groups = [("all", "all", part)] + [
            (g, band, part[part[g] == band]) for g in GROUPINGS for band in sorted(part[g].unique())
        ]
        for grouping, band, rows_of in groups:
            rows.append(
                {
                    "period": period,
                    "grouping": grouping,
                    "band": band,
                    "sales": len(rows_of),
                    "coverage_80": float(rows_of["covered_80"].mean()),
                    "coverage_90": float(rows_of["covered_90"].mean()),
                    "mean_log_width_90": float(rows_of["log_width_90"].mean()),
                }
            )
    return pd.DataFrame(rows)


def standard_errors(table: pd.DataFrame) -> pd.Series:
    """Each row's distance of its 90 % coverage from 90 %, in binomial standard errors of its own sales."""
    errors: pd.Series = (table["coverage_90"] - TARGET_LEVEL).abs() / np.sqrt(
        TARGET_LEVEL * (1 - TARGET_LEVEL) / table["sales"]
    )
    return errors


def choose_rate(sales: list[FedBack], year: int) -> float:
    """The smallest rate (the steadiest, narrowest intervals) whose replay of ``year`` alone brings its
    coverage within half the year's tolerance and every segment, however few its sales, within
    ``RATE_STANDARD_ERRORS`` of 90 %; the largest rate if none does.

    Segments count in standard errors, not points: a points tolerance can only be applied to large
    segments, and a rule that skips the small ones never sees new construction (27 sales in 2009)."""
    first = [s for s in sales if s.year == year]
    for rate in RATES:
        rows = coverage_table(replay(first, rate))
        overall = rows[rows["grouping"] == "all"]["coverage_90"].iloc[0]
        if abs(overall - TARGET_LEVEL) <= YEAR_TOLERANCE / 2 and standard_errors(rows).max() <= RATE_STANDARD_ERRORS:
            return rate
    return RATES[-1]


def main() -> None:
    settings = Settings()
    sales = replayed_sales(load(), FIRST_REPLAYED_YEAR, settings.calibration_price_edges)
    rate = choose_rate(sales, FIRST_REPLAYED_YEAR)
    print(f"rate chosen on {FIRST_REPLAYED_YEAR}: {rate} (setting: {settings.calibration_learning_rate})")
    for shown in (0.0, rate):
        print(f"\nlearning rate {shown}" + (" (the model's intervals as trained)" if shown == 0 else ""))
        print(coverage_table(replay(sales, shown)).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
