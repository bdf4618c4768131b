"""Nested rolling origin: the sales of the year an origin predicts reach none of its choices."""

from __future__ import annotations

import numpy as np

from dataset.sales import Dataset
from infra.settings import Settings
from training.pipeline import year_ahead_checks
from training.selection import choose, inner_split, setting_label

EDGES = Settings().calibration_price_edges


def test_the_latest_origin_rows_never_reach_any_choice(dataset: Dataset) -> None:
    """Scrambling the test year's prices changes its scores, and nothing the origin chose or predicted,
    its intervals' start (settled on the earlier origins' valuations) included."""
    years = dataset.features["year_sold"].to_numpy()
    latest = int(years.max())
    noise = np.random.default_rng(0).lognormal(0.0, 1.0, len(dataset))
    scrambled = Dataset(dataset.features, np.where(years == latest, dataset.price * noise, dataset.price), dataset.sold)
    honest = year_ahead_checks(dataset, quick=True, use_tf=False, progress=False, price_edges=EDGES)[0][latest]
    tampered = year_ahead_checks(scrambled, quick=True, use_tf=False, progress=False, price_edges=EDGES)[0][latest]
    assert set(honest.choices) >= {"xgboost settings", "served", "blend weights", "interval power"}
    assert "grade low" in honest.choices["interval start (90 % terms)"]
    assert honest.choices == tampered.choices
    assert np.array_equal(honest.predicted, tampered.predicted)
    for level, (lower, upper) in honest.bands.items():
        assert np.array_equal(lower, tampered.bands[level][0])
        assert np.array_equal(upper, tampered.bands[level][1])
    assert tampered.metrics["rmse_log"] > honest.metrics["rmse_log"] + 0.3


def test_settings_are_checked_on_the_training_sales_own_latest_year(dataset: Dataset) -> None:
    years = dataset.features["year_sold"].to_numpy()
    earlier = dataset.subset(years < years.max())
    fit_rows, check_rows, described = inner_split(earlier)
    checked_years = set(earlier.features["year_sold"].to_numpy()[check_rows])
    assert checked_years == {int(years.max()) - 1}
    assert not (fit_rows & check_rows).any()
    assert str(int(years.max()) - 1) in described
    chosen = choose(earlier, quick=True)
    assert setting_label(chosen.xgboost) == min(chosen.inner_rmse, key=lambda label: chosen.inner_rmse[label])
    assert len(chosen.inner_rmse) > 1
