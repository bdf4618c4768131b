from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.pyfunc import PyFuncModel

from schemas import INTERVAL_LEVELS, PropertyFeatures
from training.candidates import candidates
from training.data import Dataset
from training.evaluate import coverage
from training.intervals import AdaptiveIntervals, conformal_quantile
from training.recipe import build


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
        covered = coverage(test.price, np.exp(log_price - radius[level]), np.exp(log_price + radius[level]))
        low, high = bands[level]
        assert low <= covered <= high, (level, covered)
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
    intervals = AdaptiveIntervals().fit(Z, residuals, INTERVAL_LEVELS)
    radius = intervals.radius(Z)[0.9]
    calm, noisy = Z[:, 0] < -1, Z[:, 0] > 1
    assert radius[noisy].mean() > 1.8 * radius[calm].mean()
    assert 86 <= 100 * np.mean(residuals[0] <= radius) <= 94


def test_an_abnormal_sale_gets_a_wider_interval(champion: PyFuncModel) -> None:
    house = {"gr_liv_area": 1300, "year_built": 1950, "neighborhood": "Old_Town"}
    rows = [PropertyFeatures.model_validate({**house, "sale_condition": c}) for c in ("Normal", "Abnorml")]
    out = champion.predict(pd.DataFrame([r.model_dump() for r in rows]))
    assert isinstance(out, pd.DataFrame)
    relative = (out["upper_90"] - out["lower_90"]) / out["price"]
    assert relative.iloc[1] > 1.1 * relative.iloc[0], relative.tolist()
