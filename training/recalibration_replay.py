"""Replay of the intervals' online recalibration on sales the model never saw, in date order.

The recipe (quick tier) is fitted on the sales before ``FIRST_REPLAYED_YEAR``, its intervals started
from its own backtest (``training.warm_start``, on those sales alone); every later sale is then
valued with the state of the moment (``infra.recalibration``) and fed back at once, in order of its
sale month (ties in data order). The learning rate is chosen on the first replayed year
alone (``choose_rate``); the years after it are the test.

``python -m training.recalibration_replay`` prints the figures the README quotes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dataset.sales import Dataset, load
from infra.recalibration import Adjustments, Tracker, missed_by
from infra.settings import Settings
from schemas.calibration import GROUPINGS
from training.candidates import candidates
from training.pipeline import protocol, year_ahead_years
from training.recipe import build
from training.warm_start import FedBack, fed_back, settle

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


def replayed_sales(data: Dataset, first_year: int, price_edges: tuple[float, float]) -> list[FedBack]:
    """The quick recipe fitted on the sales before ``first_year``, its intervals started from its own
    backtest as training starts them (``training.warm_start``); the later sales valued, in date order.
    The backtest: each earlier year the training's rolling origins check (``year_ahead_years``),
    valued by the quick recipe fitted on the years before it."""
    years = data.features["year_sold"].to_numpy()
    train = data.subset(years < first_year)
    backtest = [
        sale
        for year in year_ahead_years(train)
        for sale in _valued(data.subset(years < year), data.subset(years == year), price_edges, Adjustments())
    ]
    return _valued(train, data.subset(years >= first_year), price_edges, settle(backtest))


def _valued(fit: Dataset, valued: Dataset, price_edges: tuple[float, float], start: Adjustments) -> list[FedBack]:
    proto = protocol(quick=True)
    built = build(fit, candidates(quick=True, use_tf=False), proto.n_folds, proto.n_repeats, progress=False)
    answers = built.valuer(fit).with_start(start, price_edges).predict_frame(valued.features)
    return fed_back(answers, valued, price_edges)


def replay(sales: list[FedBack], learning_rate: float) -> pd.DataFrame:
    """One row per sale: its year, bands, and whether the served 80 % / 90 % intervals missed it."""
    tracker = Tracker(learning_rate)
    rows = []
    for sale in sales:
        served = tracker.feed(sale.price, sale.intervals, sale.segment, sale.sale_price)
        missed = missed_by(served, sale.sale_price)
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
