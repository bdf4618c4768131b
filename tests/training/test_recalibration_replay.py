"""The acceptance test of the intervals' online recalibration, on the real model and the real sales.

The quick recipe is fitted on the 2006-08 sales, its intervals started from its own 2007-08 backtest
as training starts them; the 2009 and 2010 sales are then valued and fed back in date order through
the update rule. The learning rate is chosen on 2009 alone, so 2010
is the test year (see the README on what was seen before the rule was written).
"""

from __future__ import annotations

import pytest

from dataset.sales import Dataset
from infra.settings import Settings
from training.recalibration_replay import (
    FIRST_REPLAYED_YEAR,
    MAX_STANDARD_ERRORS,
    MIN_SEGMENT_SALES,
    SEGMENT_TOLERANCE,
    YEAR_TOLERANCE,
    choose_rate,
    coverage_table,
    replay,
    replayed_sales,
    standard_errors,
)
from training.warm_start import FedBack

DEFAULTS = Settings.model_fields


@pytest.fixture(scope="module")
def sales(dataset: Dataset) -> list[FedBack]:
    edges = (DEFAULTS["calibration_price_low"].default, DEFAULTS["calibration_price_high"].default)
    return replayed_sales(dataset, FIRST_REPLAYED_YEAR, edges)


def test_the_default_rate_is_the_one_chosen_on_2009_alone(sales: list[FedBack]) -> None:
    assert {s.year for s in sales} == {2009, 2010}
    assert choose_rate(sales, FIRST_REPLAYED_YEAR) == DEFAULTS["calibration_learning_rate"].default


def test_90_percent_coverage_holds_each_year_and_in_each_segment(sales: list[FedBack]) -> None:
    replayed = replay(sales, DEFAULTS["calibration_learning_rate"].default)
    table = coverage_table(replayed)
    for period in ("2009", "2010", "all years"):
        rows = table[table["period"] == period]
        overall = rows[rows["grouping"] == "all"]["coverage_90"].iloc[0]
        assert abs(overall - 0.9) <= YEAR_TOLERANCE, (period, overall)
        held = rows[(rows["grouping"] != "all") & (rows["sales"] >= MIN_SEGMENT_SALES)]
        assert len(held) >= 6, period  # every grouping has bands large enough to be held to the tolerance
        worst = held.iloc[int((held["coverage_90"] - 0.9).abs().to_numpy().argmax())]
        assert abs(worst["coverage_90"] - 0.9) <= SEGMENT_TOLERANCE, (period, worst.to_dict())
    # Every segment of every period, the small ones and the two years together included, is within
    # two standard errors of its own size (new construction has 13 sales in 2010).
    worst_errors = standard_errors(table).max()
    assert worst_errors <= MAX_STANDARD_ERRORS, table.assign(se=standard_errors(table)).to_string()


def test_the_replay_is_causal(sales: list[FedBack]) -> None:
    """What was served in 2009 does not depend on 2010's sales: choosing the rate on 2009 is clean."""
    both = replay(sales, 0.05)
    first = replay([s for s in sales if s.year == FIRST_REPLAYED_YEAR], 0.05)
    assert both.iloc[: len(first)].equals(first)
