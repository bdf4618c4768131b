from __future__ import annotations

import numpy as np

from dataset.sales import Dataset
from infra.settings import Settings
from training.pipeline import MIN_HOLDOUT_ROWS, year_ahead, year_ahead_years

EDGES = Settings().calibration_price_edges


def test_every_year_with_enough_sales_before_it_is_checked(dataset: Dataset) -> None:
    years = dataset.features["year_sold"].to_numpy()
    assert year_ahead_years(dataset) == [2007, 2008, 2009, 2010]
    few_2010 = np.flatnonzero(years == 2010)[MIN_HOLDOUT_ROWS - 1 :]
    trimmed = dataset.subset(~np.isin(np.arange(len(dataset)), few_2010))
    assert year_ahead_years(trimmed) == [2007, 2008, 2009]
    small_start = dataset.subset((years > 2006) | (np.cumsum(years == 2006) <= 10 * MIN_HOLDOUT_ROWS - 1))
    assert year_ahead_years(small_start) == [2008, 2009, 2010]


def test_a_year_ahead_check_never_sees_later_sales(dataset: Dataset) -> None:
    years = dataset.features["year_sold"].to_numpy()
    rng = np.random.default_rng(0)

    def rescaled(mask: np.ndarray) -> Dataset:
        price = dataset.price * np.where(mask, rng.uniform(0.5, 2.0, len(dataset)), 1.0)
        return Dataset(dataset.features, price, dataset.sold)

    def check(data: Dataset) -> np.ndarray:
        return year_ahead(data, 2008, quick=True, use_tf=False, progress=False, price_edges=EDGES)[0].predicted

    base = check(dataset)
    np.testing.assert_allclose(check(rescaled(years > 2008)), base, rtol=1e-12)
    assert not np.allclose(check(rescaled(years < 2008)), base, rtol=1e-3)
