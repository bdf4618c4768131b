"""The applicability guard, the price floor and the valuation date, through the registered pyfunc."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import PyFuncModel
from pydantic import ValidationError

from dataset.sales import Dataset
from schemas import FEATURE_NAMES, PropertyFeatures
from schemas.features import EXAMPLE_HOUSE
from training.features import SMALL_BATCH
from training.guard import MAX_MONTHS_BEYOND, REFUSE_BEYOND_KM, ApplicabilityGuard
from training.serving import PRICE_FLOOR

NEW_YORK = {"longitude": -73.9857, "latitude": 40.7484}
DES_MOINES = {"longitude": -93.6091, "latitude": 41.5868}  # about 50 km south of Ames


def frame(model: PyFuncModel, *houses: dict[str, Any]) -> pd.DataFrame:
    rows = [PropertyFeatures.model_validate(house).model_dump() for house in houses]
    out = model.predict(pd.DataFrame(rows, columns=list(FEATURE_NAMES)))
    assert isinstance(out, pd.DataFrame)
    return out


def value(model: PyFuncModel, *houses: dict[str, Any]) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame(model, *houses).to_dict(orient="records")]


def width(row: dict[str, Any]) -> float:
    return float(np.log(row["upper_90"] / row["lower_90"]))


def test_the_example_house_is_inside_the_model_experience(champion: PyFuncModel) -> None:
    row = value(champion, EXAMPLE_HOUSE)[0]
    assert not isinstance(row["refusal"], str)
    assert row["applicability"]["in_domain"]
    assert row["applicability"]["flags"] == []
    assert 0 <= row["applicability"]["novelty"] < 0.99
    assert row["months_beyond_data"] == 0
    assert row["confidence_band"] in {"High", "Medium"}


@pytest.mark.parametrize(("place", "km"), [(NEW_YORK, 1000), (DES_MOINES, 30)])
def test_another_market_is_refused_with_its_distance(champion: PyFuncModel, place: dict[str, float], km: int) -> None:
    row = value(champion, {**EXAMPLE_HOUSE, **place})[0]
    reason = row["refusal"]
    assert isinstance(reason, str)
    assert "outside the area the model's training sales cover" in reason
    assert float(reason.split(" km")[0].split()[-1].replace(",", "")) > km


def test_the_edge_of_town_is_flagged_not_refused(champion: PyFuncModel, dataset: Dataset) -> None:
    west = float(dataset.features["longitude"].min())
    row = value(champion, {**EXAMPLE_HOUSE, "longitude": west - 0.02})[0]  # about 1.7 km further west
    assert not isinstance(row["refusal"], str)
    assert not row["applicability"]["in_domain"]
    assert any("km outside the area" in flag for flag in row["applicability"]["flags"])
    assert REFUSE_BEYOND_KM > 1.7


def test_a_size_beyond_every_training_house_is_answered_flagged_low_and_wider(champion: PyFuncModel) -> None:
    usual, huge = value(champion, EXAMPLE_HOUSE, {**EXAMPLE_HOUSE, "gr_liv_area": 12_000})
    assert not isinstance(huge["refusal"], str)
    assert not huge["applicability"]["in_domain"]
    flags = huge["applicability"]["flags"]
    assert any(flag.startswith("gr_liv_area 12,000 is above every training sale") for flag in flags)
    assert huge["confidence_band"] == "Low"
    assert huge["fsd"] > 1.4 * usual["fsd"]
    assert width(huge) > 1.4 * width(usual)


def test_a_sale_condition_never_seen_in_training_is_flagged(champion: PyFuncModel) -> None:
    row = value(champion, {**EXAMPLE_HOUSE, "sale_condition": "Abnorml"})[0]
    assert row["applicability"]["flags"] == [
        "sale_condition 'Abnorml' occurs in no training sale; it is valued as if it were absent"
    ]
    assert row["confidence_band"] == "Low"


def test_an_unseen_level_is_flagged_alike_alone_and_in_large_batches_of_either_column_type(
    champion: PyFuncModel,
) -> None:
    guard = champion.unwrap_python_model().valuer.guard  # type: ignore[no-untyped-call]
    conditions = ["Abnorml" if i % 3 == 0 else "Normal" for i in range(2 * SMALL_BATCH)]
    rows = [PropertyFeatures.model_validate({**EXAMPLE_HOUSE, "sale_condition": c}).model_dump() for c in conditions]
    objects = pd.DataFrame(rows, columns=list(FEATURE_NAMES), dtype=object)
    arrow = objects.infer_objects()
    assert isinstance(arrow["sale_condition"].array, pd.arrays.ArrowStringArray)
    alone = [guard.check(objects.iloc[[i]]).flags[0] for i in range(len(objects))]
    assert [bool(flags) for flags in alone] == [c == "Abnorml" for c in conditions]
    assert guard.check(objects).flags == alone
    assert guard.check(arrow).flags == alone


def test_a_valuation_date_far_past_the_data_is_refused(champion: PyFuncModel) -> None:
    row = value(champion, {**EXAMPLE_HOUSE, "year_sold": 2100})[0]
    assert isinstance(row["refusal"], str)
    assert "months after the latest sale the model knows (2010-07)" in row["refusal"]
    assert row["months_beyond_data"] > MAX_MONTHS_BEYOND


def test_the_interval_widens_with_time_past_the_data(champion: PyFuncModel) -> None:
    dates = ["2010-06-30", "2011-01-15", "2012-06-01", "2014-06-01"]
    out = value(champion, *({**EXAMPLE_HOUSE, "valuation_date": d} for d in dates))
    assert [row["months_beyond_data"] for row in out] == [0, 6, 23, 47]
    widths = [width(row) for row in out]
    assert widths[0] == pytest.approx(
        widths[1], rel=0.01
    )  # the first months are in the calibration already (ages move)
    assert widths[1] < widths[2] < widths[3]
    fsd = [row["fsd"] for row in out]
    assert fsd == sorted(fsd)
    assert not any(isinstance(row["refusal"], str) for row in out)


def test_no_price_or_bound_is_below_the_floor(champion: PyFuncModel) -> None:
    tiny = {
        "gr_liv_area": 200,
        "year_built": 1800,
        "neighborhood": "Iowa_DOT_and_Rail_Road",
        "overall_qual": "Very_Poor",
        "overall_cond": "Very_Poor",
        "functional": "Sal",
        "lot_area": 500,
        "total_bsmt_sf": 0,
        "garage_cars": 0,
        "garage_area": 0,
        "garage_type": "No_Garage",
        "garage_finish": "No_Garage",
    }
    out = value(champion, tiny, {**EXAMPLE_HOUSE, **NEW_YORK}, EXAMPLE_HOUSE)
    for row in out:
        assert min(row["price"], row["lower_80"], row["lower_90"]) >= PRICE_FLOOR, row
    assert out[1]["price"] == PRICE_FLOOR  # the unguarded model said cents for New York
    assert out[1]["contributions"][-1]["feature"] == "price floor"


def test_the_guard_is_fitted_on_the_training_market(dataset: Dataset) -> None:
    """A model trained on the western half of town finds the eastern edge outside its area."""
    longitude = dataset.features["longitude"]
    west = dataset.subset((longitude < longitude.median()).to_numpy())
    guard = ApplicabilityGuard().fit(west.features, west.sold)
    east = dataset.features.loc[longitude > longitude.quantile(0.98)].head(20)
    verdict = guard.check(east)
    assert all(
        any("km outside" in f for f in flags) or reason
        for flags, reason in zip(verdict.flags, verdict.refusal, strict=True)
    )
    assert guard.check(west.features.head(200)).in_domain.mean() > 0.9


def test_valuation_date_sets_the_sale_month_and_must_agree_with_it() -> None:
    house = PropertyFeatures.model_validate({**EXAMPLE_HOUSE, "valuation_date": "2011-03-15"})
    assert (house.year_sold, house.mo_sold) == (2011, 3)
    assert "valuation_date" not in FEATURE_NAMES
    with pytest.raises(ValidationError, match="contradicts valuation_date"):
        PropertyFeatures.model_validate({**EXAMPLE_HOUSE, "valuation_date": "2011-03-15", "year_sold": 2010})


def test_sales_without_coordinates_leave_locations_unchecked(dataset: Dataset) -> None:
    features = dataset.features.assign(longitude=np.nan, latitude=np.nan)
    guard = ApplicabilityGuard().fit(features, dataset.sold)
    house = pd.DataFrame([PropertyFeatures.model_validate({**EXAMPLE_HOUSE, **NEW_YORK}).model_dump()])
    verdict = guard.check(house)
    assert verdict.refusal == [None]
    assert verdict.flags == [[]]


def test_an_old_remodel_is_not_unusual(dataset: Dataset) -> None:
    """Ames records every remodel before 1950 as 1950: an earlier one is no sign of an unusual house."""
    guard = ApplicabilityGuard().fit(dataset.features, dataset.sold)
    house = {"gr_liv_area": 1400, "year_built": 1920, "year_remod_add": 1930, "neighborhood": "Old_Town"}
    verdict = guard.check(pd.DataFrame([PropertyFeatures.model_validate(house).model_dump()]))
    assert verdict.flags == [[]]


def test_the_fields_a_request_may_leave_empty_pass_the_signature_as_ints_floats_or_none(champion: PyFuncModel) -> None:
    """MLflow checks each input column against the signature: a year as int64 (complete) or float
    (with gaps), coordinates as floats or None, and a missing grade must all reach the model, and
    the same house gets the same answer however its columns are typed."""
    graded = PropertyFeatures.model_validate(
        {**EXAMPLE_HOUSE, "year_remod_add": 1995, "overall_qual": "Good"}
    ).model_dump()
    blank = {**graded, "year_remod_add": None, "longitude": None, "latitude": None, "overall_qual": None}
    typed = pd.DataFrame([graded, graded], columns=list(FEATURE_NAMES))
    assert typed["year_remod_add"].dtype == np.int64
    mixed = pd.DataFrame([graded, blank], columns=list(FEATURE_NAMES))
    assert mixed["year_remod_add"].dtype == np.float64
    objects = mixed.astype(object)
    empty = pd.DataFrame([blank, blank], columns=list(FEATURE_NAMES)).astype(object)
    prices = []
    for houses in (typed, mixed, objects, empty):
        answer = champion.predict(houses)
        assert isinstance(answer, pd.DataFrame)
        prices.append(answer["price"].to_list())
    assert prices[0][0] == prices[1][0] == prices[2][0]
    assert prices[1][1] == prices[2][1] == prices[3][0] == prices[3][1]
    assert prices[1][1] != prices[1][0]  # the gaps are read as gaps
