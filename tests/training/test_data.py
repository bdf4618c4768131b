from __future__ import annotations

import pandas as pd
import pytest

from schemas import FEATURE_NAMES
from training.data import AMES_TO_FEATURE, MAX_LIVING_AREA, DataCheckError, clean, read_raw


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return read_raw()


def test_mapping_covers_every_feature() -> None:
    assert sorted(AMES_TO_FEATURE.values()) == sorted(FEATURE_NAMES)


def test_clean_gives_contract_columns(raw: pd.DataFrame) -> None:
    data = clean(raw)
    assert tuple(data.features.columns) == FEATURE_NAMES
    assert data.features["gr_liv_area"].max() <= MAX_LIVING_AREA
    assert data.features["central_air"].dtype == bool
    assert len(data) == len(data.price) == len(data.sold) > 2900


def test_missing_column_is_named(raw: pd.DataFrame) -> None:
    with pytest.raises(DataCheckError, match="Gr_Liv_Area"):
        clean(raw.drop(columns=["Gr_Liv_Area"]))


def test_wrong_type_is_named(raw: pd.DataFrame) -> None:
    broken = raw.assign(Lot_Area=raw["Lot_Area"].astype(str) + " sqft")
    with pytest.raises(DataCheckError, match=r"Lot_Area.*numeric"):
        clean(broken)


def test_numeric_levels_are_rejected(raw: pd.DataFrame) -> None:
    with pytest.raises(DataCheckError, match="Neighborhood"):
        clean(raw.assign(Neighborhood=1))
