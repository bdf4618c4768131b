"""The intervals' recalibration through the real stack: POST /feedback moves the state in Redis, GET /model
and the metrics show it, and the next valuation's intervals (from a worker started afresh) carry it."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from infra.settings import Settings
from tests.api.conftest import HOUSE, connected_client, poll, wait_until
from tests.conftest import StartWorker, isolated_settings

pytestmark = pytest.mark.integration
RATE = 0.5


@pytest.fixture(scope="module")
def module_settings(base_settings: Settings, champion: str) -> Settings:
    return isolated_settings(
        base_settings, rate_limit="none", calibration_learning_rate=RATE, calibration_poll_seconds=0.2
    )


@pytest.fixture(scope="module")
def client(module_settings: Settings) -> Iterator[TestClient]:
    yield from connected_client(module_settings)


def value(client: TestClient) -> dict[str, Any]:
    """A valuation of the example house, waited for (a restarted worker may first have to join its group)."""
    response = client.post("/api/v1/predict", params={"wait": 30}, json={"features": HOUSE})
    assert response.status_code in {200, 202}, response.text
    result: dict[str, Any] = response.json()
    if response.status_code == 202:
        result = poll(client, result["status_url"], timeout=120)
    assert result["status"] == "done", result
    return result


def log_radius(result: dict[str, Any], level: float) -> float:
    interval = next(i for i in result["intervals"] if i["level"] == level)
    return math.log(interval["upper"] / result["price"])


def segments_of(client: TestClient) -> dict[tuple[float, str, str], dict[str, Any]]:
    calibration = client.get("/api/v1/model").json()["calibration"]
    return {(s["level"], s["grouping"], s["band"]): s for s in calibration["segments"]}


def test_feedback_recalibrates_the_next_valuations(
    client: TestClient, module_settings: Settings, start_worker: StartWorker, champion: str
) -> None:
    first_worker = start_worker(module_settings, 0)
    before = value(client)
    segment = before["segment"]
    assert segment == {"construction": "existing", "grade": "ungraded", "price": segment["price"]}
    bands = [(g, segment[g]) for g in ("construction", "grade", "price")]
    assert all(segments_of(client)[(0.9, g, b)]["sales"] == 0 for g, b in bands)

    # A sale at three times the price misses both intervals: each of the segment's bands widens.
    feedback = client.post(
        "/api/v1/feedback", json={"request_id": before["request_id"], "sale_price": before["price"] * 3}
    )
    assert feedback.status_code == 201, feedback.text
    state = segments_of(client)
    for level in (0.8, 0.9):
        for g, b in bands:
            assert state[(level, g, b)]["sales"] == 1
            assert state[(level, g, b)]["missed"] == 1
            assert state[(level, g, b)]["log_factor"] == pytest.approx(RATE * level)
    assert state[(0.9, "grade", "low")]["sales"] == 0
    metrics = client.get("/metrics").text
    labels = f'band="ungraded",grouping="grade",level="0.9",model_version="{champion}"'
    assert re.search(rf"^valuestream_interval_recalibration_coverage\{{{labels}\}} 0\.0$", metrics, re.M)
    assert re.search(rf"^valuestream_interval_recalibration_sales\{{{labels}\}} 1\.0$", metrics, re.M)

    # The running worker reads the state within its poll; a worker started afresh reads it at once.
    def widened_valuation() -> dict[str, Any] | None:
        result = value(client)
        return result if log_radius(result, 0.9) > log_radius(before, 0.9) * 1.01 else None

    widened = math.exp(3 * RATE * 0.9)
    after = wait_until(widened_valuation)
    first_worker.stop()
    start_worker(module_settings, 0)
    again = wait_until(widened_valuation)
    for result in (after, again):
        assert result["price"] == pytest.approx(before["price"])
        assert log_radius(result, 0.9) == pytest.approx(log_radius(before, 0.9) * widened, rel=1e-6)
        assert log_radius(result, 0.8) == pytest.approx(
            min(log_radius(before, 0.8) * math.exp(3 * RATE * 0.8), log_radius(result, 0.9)), rel=1e-6
        )
