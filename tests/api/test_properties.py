"""Hypothesis property tests of the request bodies: valid houses in, field-level errors out."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.rows import validate_rows
from schemas import PropertyFeatures, utc_now
from schemas.api import PredictionCreate
from schemas.jobs import BatchCreate

pytestmark = pytest.mark.integration

BOUNDS = {
    name: (
        next(m.ge for m in field.metadata if hasattr(m, "ge")),
        next(m.le for m in field.metadata if hasattr(m, "le")),
    )
    for name, field in PropertyFeatures.model_fields.items()
    if field.annotation is int and any(hasattr(m, "ge") for m in field.metadata)
}
CHOICES = {
    name: get_args(field.annotation)
    for name, field in PropertyFeatures.model_fields.items()
    if get_args(field.annotation) and all(isinstance(a, str) for a in get_args(field.annotation))
}


@st.composite
def houses(draw: st.DrawFn) -> dict[str, Any]:
    house: dict[str, Any] = {name: draw(st.sampled_from(levels)) for name, levels in CHOICES.items()}
    for name, (low, high) in BOUNDS.items():
        house[name] = draw(st.integers(low, high))
    house["year_built"] = draw(st.integers(1800, 2010))
    house["year_sold"] = draw(st.integers(max(house["year_built"], 1900), 2100))
    house["year_remod_add"] = draw(st.one_of(st.none(), st.integers(house["year_built"], 2100)))
    house["second_flr_sf"] = draw(st.integers(0, min(6000, house["gr_liv_area"] - 1)))
    house["bsmt_finished_sf"] = draw(st.integers(0, house["total_bsmt_sf"]))
    return house


@given(houses())
def test_every_house_within_bounds_is_accepted_and_round_trips(house: dict[str, Any]) -> None:
    body = PredictionCreate.model_validate({"features": house})
    assert PredictionCreate.model_validate_json(body.model_dump_json()) == body


@given(houses(), st.sampled_from(sorted(BOUNDS)), st.booleans())
def test_an_out_of_bounds_number_names_its_field(house: dict[str, Any], name: str, above: bool) -> None:
    low, high = BOUNDS[name]
    house[name] = high + 1 if above else low - 1
    checked = validate_rows("j", 0, [house], "batch", utc_now())
    assert not checked.requests
    assert name in {e.field for e in checked.errors}


@given(st.lists(st.one_of(houses(), st.dictionaries(st.text(max_size=5), st.integers())), min_size=1, max_size=30))
def test_rows_split_into_requests_and_failures_in_input_order(rows: list[dict[str, Any]]) -> None:
    batch = BatchCreate.model_validate({"houses": rows})
    checked = validate_rows("j", 10, batch.houses, "batch", utc_now())
    got = sorted([r.row or 0 for r in checked.requests] + [f.row or 0 for f in checked.failures])
    assert got == list(range(10, 10 + len(rows)))
    assert {f.row for f in checked.failures} == {e.row for e in checked.errors}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(houses(), st.sampled_from([float("nan"), float("inf"), -1e300, "many", None]))
def test_the_api_rejects_nonsense_numbers_with_the_field(client: TestClient, house: dict[str, Any], bad: Any) -> None:
    house["lot_area"] = bad
    response = client.post("/api/v1/predict", content=_json(house), headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "features.lot_area" in {d["field"] for d in response.json()["details"]}


def _json(house: dict[str, Any]) -> bytes:
    import json

    return json.dumps({"features": house}, allow_nan=True).encode()
