from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dataset.sales import Dataset
from schemas.features import CONDITIONS
from training.features import CATEGORICAL, SMALL_BATCH, FeatureEncoder


@pytest.fixture(scope="module")
def fitted(dataset: Dataset) -> tuple[FeatureEncoder, dict[str, int]]:
    encoder = FeatureEncoder()
    encoder.fit(dataset.features, np.log(dataset.price))
    return encoder, {name: i for i, name in enumerate(encoder.feature_names_)}


def test_a_missing_grade_is_the_neighbourhoods_mean_grade(
    dataset: Dataset, fitted: tuple[FeatureEncoder, dict[str, int]]
) -> None:
    encoder, column = fitted
    rows = dataset.features.loc[dataset.features["neighborhood"].isin(["Old_Town", "Somerset"])].head(40)
    scores = dataset.features["overall_qual"].map({level: i + 1 for i, level in enumerate(CONDITIONS)})
    expected = scores.groupby(dataset.features["neighborhood"]).mean()
    ungraded = rows.assign(overall_qual=None)
    encoded = encoder.transform(ungraded)[:, column["overall_qual"]]
    np.testing.assert_allclose(encoded, expected[rows["neighborhood"]].to_numpy())
    graded = encoder.transform(rows)[:, column["overall_qual"]]
    np.testing.assert_array_equal(graded, scores[rows.index].to_numpy())


def test_the_sale_date_enters_only_through_the_ages(
    dataset: Dataset, fitted: tuple[FeatureEncoder, dict[str, int]]
) -> None:
    encoder, column = fitted
    house = dataset.features.head(1)
    later = house.assign(year_sold=house["year_sold"] + 3, mo_sold=1 + house["mo_sold"] % 12)
    changed = np.flatnonzero(encoder.transform(house)[0] != encoder.transform(later)[0])
    names = {encoder.feature_names_[i] for i in changed}
    assert names == {"house_age", "house_age_sq", "years_since_remod"}
    assert not {"year_sold", "mo_sold", "sale_time"} & set(column)


def test_sales_without_any_grade_still_encode(dataset: Dataset) -> None:
    """A team's own file may have no grades at all: every row then gets the same middle score."""
    ungraded = dataset.features.head(300).assign(overall_qual=None)
    encoder = FeatureEncoder()
    Z = encoder.fit_transform(ungraded, np.log(dataset.price[:300]))
    column = list(encoder.feature_names_).index("overall_qual")
    assert not np.isnan(Z).any()
    np.testing.assert_array_equal(Z[:, column], 5.0)
    graded = dataset.features.head(3)
    expected = [CONDITIONS.index(grade) + 1.0 for grade in graded["overall_qual"]]
    np.testing.assert_array_equal(encoder.transform(graded)[:, column], expected)


def test_a_house_encodes_the_same_alone_or_in_a_large_batch(
    dataset: Dataset, fitted: tuple[FeatureEncoder, dict[str, int]]
) -> None:
    """Small frames are read as one object array and large ones column by column, their Arrow text
    columns looked up in Arrow; a house's row must not depend on which (typed or object columns,
    missing cells and unseen levels included)."""
    encoder, _ = fitted
    houses = dataset.features.head(SMALL_BATCH * 3).reset_index(drop=True).astype(object)
    houses.loc[::7, "overall_qual"] = None
    houses.loc[::5, ["longitude", "latitude"]] = None
    houses.loc[::11, "year_remod_add"] = None
    houses.loc[::4, "sale_condition"] = "Never_Seen"
    houses.loc[::9, "neighborhood"] = "Elsewhere"
    houses.loc[::6, "garage_type"] = None
    typed_houses = houses.infer_objects().astype(dict.fromkeys(CATEGORICAL, "str"))
    assert isinstance(typed_houses["neighborhood"].array, pd.arrays.ArrowStringArray)  # levels looked up in Arrow
    batch = encoder.transform(houses)
    typed = encoder.transform(typed_houses)
    alone = np.vstack([encoder.transform(houses.iloc[[i]]) for i in range(0, len(houses), 13)])
    assert not np.isnan(batch).any()
    np.testing.assert_array_equal(typed, batch)
    np.testing.assert_array_equal(alone, batch[::13])
