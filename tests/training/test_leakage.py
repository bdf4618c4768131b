from __future__ import annotations

import numpy as np

from dataset.sales import Dataset
from training.candidates import candidates
from training.evaluate import cross_validate, make_splits
from training.features import FeatureEncoder

STAT_COLUMNS = FeatureEncoder._stat_names()


def test_held_out_targets_do_not_move_their_predictions(dataset: Dataset) -> None:
    split = make_splits(len(dataset), n_folds=3, n_repeats=1)[:1]
    _, _, test = split[0]
    shuffled = dataset.price.copy()
    shuffled[test] = np.random.default_rng(0).permutation(shuffled[test])
    changed = Dataset(dataset.features, shuffled, dataset.sold)
    for candidate in candidates(quick=True, use_tf=False):
        before = cross_validate(candidate, dataset, split, progress=False).oof[0, test]
        after = cross_validate(candidate, changed, split, progress=False).oof[0, test]
        np.testing.assert_allclose(before, after, rtol=0, atol=1e-12)


def test_own_price_never_enters_own_features(dataset: Dataset) -> None:
    sample = dataset.subset(np.arange(len(dataset)) < 600)
    y = np.log(sample.price)
    encoder = FeatureEncoder()
    base = encoder.fit_transform(sample.features, y)
    columns = [encoder.feature_names_.index(name) for name in STAT_COLUMNS]
    for row in (0, 17, 311):
        bumped = y.copy()
        bumped[row] += 3.0
        moved = FeatureEncoder().fit_transform(sample.features, bumped)
        np.testing.assert_array_equal(base[row, columns], moved[row, columns])
