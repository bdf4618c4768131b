from __future__ import annotations

import numpy as np

from schemas import INTERVAL_LEVELS
from training.candidates import candidates
from training.data import Dataset
from training.evaluate import coverage
from training.recipe import build


def test_coverage_on_a_held_out_fold(dataset: Dataset) -> None:
    held_out = np.random.default_rng(7).random(len(dataset)) < 0.25
    train, test = dataset.subset(~held_out), dataset.subset(held_out)
    built = build(train, candidates(quick=True, use_tf=False), n_folds=2, n_repeats=1, progress=False)
    valuer = built.valuer(train)
    log_price = valuer.log_price(valuer.encoder.transform(test.features))
    bands = {0.8: (72.0, 88.0), 0.9: (84.0, 96.0)}
    for level in INTERVAL_LEVELS:
        radius = built.radius[level]
        covered = coverage(test.price, np.exp(log_price - radius), np.exp(log_price + radius))
        low, high = bands[level]
        assert low <= covered <= high, (level, covered)
