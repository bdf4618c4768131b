"""GET /stream (SSE), GET /model, POST /feedback and the metrics it moves."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import HOUSE
from tests.conftest import WorkerProcess

pytestmark = pytest.mark.integration


def read_events(client: TestClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    events = []
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:").strip()))
    return events


def test_stream_pushes_a_jobs_results_as_they_land(client: TestClient, worker: WorkerProcess) -> None:
    client.post("/api/v1/batch", json={"houses": [HOUSE] * 2})
    client.post("/api/v1/batch", json={"houses": [HOUSE] * 3, "job_id": "sse-job"})
    # From the feed's start (Last-Event-ID), filtered to the job; blocks until its 3 results are in.
    events = read_events(client, "/api/v1/stream?job_id=sse-job&limit=3", {"Last-Event-ID": "0-0"})
    assert sorted(e["row"] for e in events) == [0, 1, 2]
    assert {e["job_id"] for e in events} == {"sse-job"}


def test_stream_of_an_unknown_job_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/stream?job_id=nope").status_code == 404


def test_model_describes_the_champion(client: TestClient, champion: str) -> None:
    model = client.get("/api/v1/model").json()
    assert model["version"] == champion
    assert model["alias"] == "champion"
    assert model["metrics"]
    assert "kaggle_cv_rmse" in model["metrics"]
    study = model["ratio_study"]
    overall = next(s for s in study["segments"] if s["dimension"] == "all")
    assert overall["sales"] == study["sales"] > 0
    assert {"neighbourhood", "price_decile", "age_band", "new_construction"} <= {
        s["dimension"] for s in study["segments"]
    }
    assert overall["cod"]["verdict"] in {"pass", "fail", "uncertain"}
    assert study["errors_by_group"][-1]["group"] == "all sales"


def gauge(text: str, name: str, neighborhood: str) -> float | None:
    match = re.search(rf'^{name}\{{model_version="\d+",neighborhood="{neighborhood}"\}} (\S+)$', text, re.M)
    return None if match is None else float(match.group(1))


def test_feedback_moves_the_exported_accuracy(client: TestClient, worker: WorkerProcess) -> None:
    scored = client.post("/api/v1/predict", params={"wait": 30}, json={"features": HOUSE | {"neighborhood": "Veenker"}})
    result = scored.json()
    assert gauge(client.get("/api/v1/metrics").text, "valuestream_model_feedback_total", "Veenker") is None

    exact = client.post("/api/v1/feedback", json={"request_id": result["request_id"], "sale_price": result["price"]})
    assert exact.status_code == 201, exact.text
    assert exact.json()["figures"]["within_10pct"] == 1.0
    metrics = client.get("/metrics").text
    assert gauge(metrics, "valuestream_model_feedback_total", "Veenker") == 1.0
    assert gauge(metrics, "valuestream_model_feedback_mape", "Veenker") == pytest.approx(0.0, abs=1e-6)

    other = client.post("/api/v1/predict", params={"wait": 30}, json={"features": HOUSE | {"neighborhood": "Veenker"}})
    far = client.post(
        "/api/v1/feedback", json={"request_id": other.json()["request_id"], "sale_price": result["price"] * 2}
    )
    assert far.json()["figures"]["within_10pct"] == 0.5
    metrics = client.get("/api/v1/metrics").text
    assert gauge(metrics, "valuestream_model_feedback_within_10pct", "Veenker") == 0.5
    assert gauge(metrics, "valuestream_model_feedback_interval_coverage", "Veenker") == 0.5

    again = client.post("/api/v1/feedback", json={"request_id": result["request_id"], "sale_price": 1.0})
    assert again.status_code == 409
    unknown = client.post("/api/v1/feedback", json={"request_id": "nope", "sale_price": 1.0})
    assert unknown.status_code == 404


def test_feedback_feeds_the_live_ratio_study(client: TestClient, worker: WorkerProcess) -> None:
    """Sale prices fed back for served valuations become the champion's ratio study from observed sales."""
    before = (client.get("/api/v1/model").json().get("live_ratio_study") or {}).get("sales", 0)
    for ratio in (0.95, 1.05, 1.10):
        result = client.post("/api/v1/predict?wait=20", json={"features": HOUSE}).json()
        given = client.post(
            "/api/v1/feedback", json={"request_id": result["request_id"], "sale_price": result["price"] / ratio}
        )
        assert given.status_code == 201, given.text
    study = client.get("/api/v1/model").json()["live_ratio_study"]
    assert study["source"] == "feedback"
    assert study["sales"] == before + 3


def test_metrics_count_requests_and_errors_by_route(client: TestClient) -> None:
    client.get("/api/v1/predictions/missing-one")
    text = client.get("/metrics").text
    route = re.escape("predictions/{request_id}")
    assert re.search(
        rf'valuestream_api_errors_total\{{code="not_found",route="[^"]*{route}",status="404"\}} [1-9]', text
    )
    assert "valuestream_api_request_seconds_bucket{" in text
