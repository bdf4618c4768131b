"""The wire contract rejects nonsense with field-level reasons and accepts what a person knows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import FEATURE_NAMES, PredictionRequest, PropertyFeatures, utc_now
from schemas.features import REQUEST_ONLY_FIELDS

MINIMAL: dict[str, Any] = {"gr_liv_area": 1500, "year_built": 1990, "neighborhood": "Gilbert"}


def error_fields(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"]) for e in exc.errors()}


def test_three_fields_are_enough_and_the_rest_has_defaults() -> None:
    house = PropertyFeatures.model_validate(MINIMAL)
    assert house.bedrooms == 3
    assert house.longitude is None
    assert set(house.model_dump()) == {*FEATURE_NAMES, *REQUEST_ONLY_FIELDS}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gr_liv_area", -1),
        ("year_built", 3000),
        ("lot_area", 0),
        ("bedrooms", 40),
        ("neighborhood", "Atlantis"),
        ("longitude", 200.0),
        ("latitude", -91.0),
        ("mo_sold", 13),
    ],
)
def test_out_of_range_values_are_rejected_by_field(field: str, value: Any) -> None:
    extra = {"longitude": -93.6, "latitude": 42.0} if field in {"longitude", "latitude"} else {}
    with pytest.raises(ValidationError) as caught:
        PropertyFeatures.model_validate(MINIMAL | extra | {field: value})
    assert field in error_fields(caught.value)


def test_unknown_fields_and_non_finite_numbers_are_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        PropertyFeatures.model_validate(MINIMAL | {"colour": "red"})
    assert "colour" in error_fields(caught.value)
    with pytest.raises(ValidationError):
        PropertyFeatures.model_validate(MINIMAL | {"longitude": float("nan"), "latitude": 42.0})


@pytest.mark.parametrize(
    "patch",
    [
        {"year_remod_add": 1980},
        {"second_flr_sf": 1500},
        {"longitude": -93.6},
        {"total_bsmt_sf": 800, "bsmt_finished_sf": 900},
        {"year_sold": 1950},
    ],
)
def test_inconsistent_houses_are_rejected(patch: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PropertyFeatures.model_validate(MINIMAL | patch)


def test_request_round_trips_through_json() -> None:
    request = PredictionRequest(request_id="abc-1", job_id="job.7", row=3, source="file", features=MINIMAL)  # type: ignore[arg-type]
    again = PredictionRequest.model_validate(json.loads(request.model_dump_json()))
    assert again == request


@pytest.mark.parametrize("request_id", ["", "has space", "x" * 65, "-leading-dash", "semi;colon"])
def test_request_ids_are_safe_redis_and_kafka_keys(request_id: str) -> None:
    with pytest.raises(ValidationError):
        PredictionRequest(request_id=request_id, features=MINIMAL)  # type: ignore[arg-type]


def test_job_pace_gives_rate_and_time_left() -> None:
    from datetime import timedelta

    from schemas.jobs import job_pace

    start = utc_now()
    assert job_pace(500, 2_000, start, start + timedelta(seconds=10)) == (50.0, 30.0)
    assert job_pace(2_000, 2_000, start, start + timedelta(seconds=10)) == (200.0, 0.0)
    assert job_pace(0, 2_000, start, start + timedelta(seconds=10)) == (0.0, None)
