from __future__ import annotations

import math

import pandas as pd
import pytest

from schemas import FEATURE_NAMES, PropertyFeatures
from training.data import (
    AMES_TO_FEATURE,
    ARMS_LENGTH_CONDITIONS,
    DERIVED_FEATURES,
    MAX_LIVING_AREA,
    DataCheckError,
    clean,
    read_raw,
)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return read_raw()


def test_mapping_covers_every_feature() -> None:
    assert sorted([*AMES_TO_FEATURE.values(), *DERIVED_FEATURES]) == sorted(FEATURE_NAMES)


def test_clean_gives_contract_columns(raw: pd.DataFrame) -> None:
    data = clean(raw)
    assert tuple(data.features.columns) == FEATURE_NAMES
    assert data.features["gr_liv_area"].max() <= MAX_LIVING_AREA
    assert data.features["central_air"].dtype == bool
    assert len(data) == len(data.price) == len(data.sold) > 2600


def test_only_arms_length_sales_are_kept(raw: pd.DataFrame) -> None:
    data = clean(raw)
    assert set(data.features["sale_condition"]) == ARMS_LENGTH_CONDITIONS
    market = raw["Sale_Condition"].isin(ARMS_LENGTH_CONDITIONS) & (raw["Gr_Liv_Area"] <= MAX_LIVING_AREA)
    assert len(data) == market.sum() < len(raw) - 250


def test_finished_basement_is_the_basement_less_its_unfinished_part(raw: pd.DataFrame) -> None:
    one = raw.loc[[0]].assign(Total_Bsmt_SF=1000, Bsmt_Unf_SF=350, Sale_Condition="Normal")
    assert clean(one).features.loc[0, "bsmt_finished_sf"] == 650


def test_every_cleaned_row_is_a_valid_request(raw: pd.DataFrame) -> None:
    for record in clean(raw).features.to_dict(orient="records"):
        PropertyFeatures.model_validate(
            {k: v for k, v in record.items() if not (isinstance(v, float) and math.isnan(v))}
        )


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
