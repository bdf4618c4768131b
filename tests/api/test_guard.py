"""The applicability guard through the real API and a worker: refused with 422, or answered and flagged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from schemas.valuation import REFUSED_CODE
from tests.api.conftest import HOUSE
from tests.conftest import WorkerProcess

pytestmark = pytest.mark.integration
NEW_YORK = {"longitude": -73.9857, "latitude": 40.7484}


def test_a_house_in_another_market_is_a_422_with_the_reason(client: TestClient, worker: WorkerProcess) -> None:
    body = {"request_id": "guard-new-york", "features": {**HOUSE, **NEW_YORK}}
    response = client.post("/api/v1/predict", params={"wait": 30}, json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == REFUSED_CODE
    assert "outside the area the model's training sales cover" in error["message"]
    assert error["details"] == [{"field": "features", "reason": error["message"]}]
    record = client.get("/api/v1/predictions/guard-new-york").json()  # what the results topic carried
    assert record["status"] == "failed"
    assert record["error"] == {"code": REFUSED_CODE, "message": error["message"]}
    assert record["price"] is None
    again = client.post("/api/v1/predict", params={"wait": 30}, json=body)
    assert again.status_code == 422


def test_an_unusual_house_is_answered_flagged_with_low_confidence(client: TestClient, worker: WorkerProcess) -> None:
    usual = client.post("/api/v1/predict", params={"wait": 30}, json={"features": HOUSE}).json()
    huge = client.post(
        "/api/v1/predict", params={"wait": 30}, json={"features": {**HOUSE, "gr_liv_area": 12_000}}
    ).json()
    assert usual["status"] == huge["status"] == "done"
    assert usual["applicability"]["in_domain"]
    assert usual["confidence"] == pytest.approx(1 - usual["fsd"], abs=1e-4)
    assert not huge["applicability"]["in_domain"]
    assert any("gr_liv_area 12,000" in flag for flag in huge["applicability"]["flags"])
    assert huge["confidence_band"] == "Low"
    assert huge["fsd"] > usual["fsd"]
    total = huge["base_price"] + sum(c["value"] for c in huge["contributions"])
    assert total == pytest.approx(huge["price"], rel=0.005)


def test_a_valuation_date_past_the_data_says_how_far(client: TestClient, worker: WorkerProcess) -> None:
    later = client.post(
        "/api/v1/predict", params={"wait": 30}, json={"features": {**HOUSE, "valuation_date": "2012-06-01"}}
    ).json()
    assert later["status"] == "done"
    assert later["months_beyond_data"] == 23
