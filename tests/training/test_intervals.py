from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import PyFuncModel

from dataset.sales import Dataset
from schemas import INTERVAL_LEVELS, PropertyFeatures
from training.candidates import candidates
from training.evaluate import coverage
from training.intervals import SIGMA_POWER, AdaptiveIntervals, conformal_quantile
from training.recipe import build, year_ahead_factors
from training.serving import CALIBRATED_LEVELS


def test_coverage_on_a_held_out_fold(dataset: Dataset) -> None:
    held_out = np.random.default_rng(7).random(len(dataset)) < 0.25
    train, test = dataset.subset(~held_out), dataset.subset(held_out)
    built = build(train, candidates(quick=True, use_tf=False), n_folds=2, n_repeats=1, progress=False)
    valuer = built.valuer(train)
    Z = valuer.encoder.transform(test.features)
    log_price = valuer.log_price(Z)
    radius = built.intervals.radius(Z)
    bands = {0.8: (74.0, 86.0), 0.9: (86.0, 94.0)}
    for level in INTERVAL_LEVELS:
        # The conformal band itself: the year-ahead widening is meant to over-cover a fold of the same years.
        calibrated = radius[level] / built.intervals.widened_by_[level]
        covered = coverage(test.price, np.exp(log_price - calibrated), np.exp(log_price + calibrated))
        low, high = bands[level]
        assert low <= covered <= high, (level, covered)
        widened = coverage(test.price, np.exp(log_price - radius[level]), np.exp(log_price + radius[level]))
        assert widened >= covered
    spread = np.quantile(radius[0.9], [0.1, 0.9])
    assert spread[1] > 1.3 * spread[0], spread


def test_conformal_quantile_covers_the_level() -> None:
    scores = np.arange(1, 101, dtype=float)
    assert conformal_quantile(scores, 0.9) == 91.0
    assert conformal_quantile(scores[:5], 0.9) == 5.0


def test_the_interval_follows_the_expected_error() -> None:
    rng = np.random.default_rng(3)
    Z = rng.normal(size=(4000, 3))
    scale = 0.05 + 0.1 * (Z[:, 0] > 0)
    residuals = np.abs(rng.normal(size=(2, 4000)) * scale)
    calm, noisy = Z[:, 0] < -1, Z[:, 0] > 1
    ratios = {}
    for power in (1.0, SIGMA_POWER):
        radius = AdaptiveIntervals(power=power).fit(Z, residuals, INTERVAL_LEVELS).radius(Z)[0.9]
        assert 86 <= 100 * np.mean(residuals[0] <= radius) <= 94
        ratios[power] = radius[noisy].mean() / radius[calm].mean()
    assert ratios[1.0] > 2.5  # the noisy half's errors are three times the calm half's
    assert ratios[SIGMA_POWER] == pytest.approx(ratios[1.0] ** SIGMA_POWER, rel=0.05)


def test_a_rundown_old_house_gets_a_wider_interval_than_a_typical_new_one(champion: PyFuncModel) -> None:
    typical = {"gr_liv_area": 1500, "year_built": 2005, "neighborhood": "Somerset"}
    unusual = {
        "gr_liv_area": 1500,
        "year_built": 1900,
        "neighborhood": "Iowa_DOT_and_Rail_Road",
        "overall_cond": "Poor",
        "functional": "Mod",
        "paved_drive": "Dirt_Gravel",
        "central_air": False,
    }
    rows = [PropertyFeatures.model_validate(house) for house in (typical, unusual)]
    out = champion.predict(pd.DataFrame([r.model_dump() for r in rows]))
    assert isinstance(out, pd.DataFrame)
    relative = (out["upper_90"] - out["lower_90"]) / out["price"]
    assert relative.iloc[1] > 1.1 * relative.iloc[0], relative.tolist()


def test_intervals_are_widened_never_narrowed() -> None:
    Z = np.random.default_rng(3).normal(size=(500, 2))
    intervals = AdaptiveIntervals().fit(Z, np.abs(Z[:, :1].T) * 0.1, INTERVAL_LEVELS)
    before = dict(intervals.multiplier_)
    intervals.widen({0.8: 1.25, 0.9: 0.7})
    assert intervals.multiplier_[0.8] == pytest.approx(1.25 * before[0.8])
    assert intervals.multiplier_[0.9] == before[0.9]


def test_year_ahead_factors_need_an_earlier_year(dataset: Dataset) -> None:
    one_year = dataset.subset(dataset.features["year_sold"].to_numpy() == 2009)
    members = {c.name: c for c in candidates(quick=True, use_tf=False)}
    weights = {"huber_linear": 1.0}
    assert year_ahead_factors(one_year, members, weights, np.zeros(len(one_year))) == dict.fromkeys(
        CALIBRATED_LEVELS, 1.0
    )
    recent = dataset.subset(dataset.features["year_sold"].to_numpy() >= 2008)
    oof = np.log(recent.price)  # a perfect in-period fit: any year-ahead error makes the factor large
    oof = oof + np.random.default_rng(0).normal(scale=0.01, size=len(oof))
    factors = year_ahead_factors(recent, members, weights, oof)
    assert all(f > 2 for f in factors.values()), factors


def test_a_noisier_latest_year_widens_the_intervals(dataset: Dataset) -> None:
    """The latest year's in-period errors equal its year-ahead ones, but they are far above the other
    years': the factor compares with all sales, so the intervals still widen."""
    recent = dataset.subset(dataset.features["year_sold"].to_numpy() >= 2008)
    members = {c.name: c for c in candidates(quick=True, use_tf=False)}
    latest = recent.features["year_sold"].to_numpy() == 2010
    earlier, later = recent.subset(~latest), recent.subset(latest)
    ahead = np.log(members["huber_linear"].pipeline().fit(earlier.features, earlier.price).predict(later.features))
    oof = np.log(recent.price) + np.random.default_rng(1).normal(scale=0.01, size=len(recent))
    oof[latest] = ahead
    factors = year_ahead_factors(recent, members, {"huber_linear": 1.0}, oof)
    assert all(f > 2 for f in factors.values()), factors
