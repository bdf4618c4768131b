"""The fast path of POST /predict: fresh ids wait on the feed (no Redis read), the stored JSON
is passed through, the meta and queued record are written before the send, metrics still count."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from schemas.messages import PredictionResult
from tests.api.conftest import HOUSE, poll
from tests.conftest import WorkerProcess

pytestmark = pytest.mark.integration


def test_concurrent_waits_each_get_their_own_stored_result(client: TestClient, worker: WorkerProcess) -> None:
    houses = [HOUSE | {"gr_liv_area": 900 + 150 * i} for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda h: client.post("/api/v1/predict", params={"wait": 30}, json={"features": h}), houses)
        )
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    results = [PredictionResult.model_validate_json(a.content) for a in answers]
    assert len({r.request_id for r in results}) == 8
    assert [r.subject.gr_liv_area for r in results if r.subject] == [h["gr_liv_area"] for h in houses]
    for answer, result in zip(answers, results, strict=True):
        stored = client.get(f"/api/v1/predictions/{result.request_id}")
        assert stored.status_code == 200
        assert stored.json() == answer.json()  # the waiter hands back exactly what the worker stored


def test_no_wait_is_202_with_a_readable_record_at_once(client: TestClient, worker: WorkerProcess) -> None:
    accepted = client.post("/api/v1/predict", json={"features": HOUSE})
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["status"] == "queued"
    assert accepted.headers["location"] == body["status_url"] == f"/api/v1/predictions/{body['request_id']}"
    first = client.get(body["status_url"])  # record and owner meta were written before the answer
    assert first.status_code == 200
    assert first.json()["status"] in {"queued", "done"}
    assert poll(client, body["status_url"])["status"] == "done"


def test_metrics_still_count_predict_by_route_and_status(client: TestClient, worker: WorkerProcess) -> None:
    def count() -> float:
        text = client.get("/metrics").text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "valuestream_api_requests_total"
            and sample.labels == {"route": "/predict", "method": "POST", "status": "202"}  # router-relative path
        )

    before = count()
    assert client.post("/api/v1/predict", json={"features": HOUSE}).status_code == 202
    assert count() == before + 1
