"""POST /predict, GET and DELETE /predictions/{id}: real Kafka, Redis and a worker process."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infra import stack
from infra.settings import Settings
from tests.api.conftest import HOUSE, poll
from tests.conftest import WorkerProcess
from tests.integration.test_end_to_end import messages_on

pytestmark = pytest.mark.integration


def test_wait_returns_the_result_with_everything_documented(
    client: TestClient, worker: WorkerProcess, champion: str
) -> None:
    response = client.post("/api/v1/predict", params={"wait": 30}, json={"features": HOUSE})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "done"
    assert result["model"]["version"] == champion
    assert {i["level"] for i in result["intervals"]} == {0.8, 0.9}
    assert result["contributions"]
    assert result["comparables"]
    assert result["timings"]["inference_ms"] > 0


def test_idempotency_key_and_client_id_never_score_twice(
    client: TestClient, module_settings: Settings, worker: WorkerProcess
) -> None:
    before = messages_on(module_settings, module_settings.requests_topic)
    headers = {"Idempotency-Key": "order-77"}
    first = client.post("/api/v1/predict", json={"features": HOUSE}, headers=headers)
    again = client.post("/api/v1/predict", json={"features": HOUSE}, headers=headers)
    assert first.status_code in {200, 202}
    assert again.status_code in {200, 202}
    assert first.json()["request_id"] == again.json()["request_id"]
    own = client.post("/api/v1/predict", json={"request_id": "client-id-1", "features": HOUSE})
    # 200: a client-chosen id is looked up after it is handed over, and a fast worker may have answered it.
    assert own.status_code in {200, 202}, own.text
    answered = own.json() if own.status_code == 200 else poll(client, own.json()["status_url"])
    assert answered["status"] == "done"
    retry = client.post("/api/v1/predict", json={"request_id": "client-id-1", "features": HOUSE})
    assert retry.status_code == 200
    assert retry.json()["status"] == "done"
    assert messages_on(module_settings, module_settings.requests_topic) == before + 2


def test_delete_erases_at_once(client: TestClient, worker: WorkerProcess) -> None:
    accepted = client.post("/api/v1/predict", params={"wait": 30}, json={"features": HOUSE}).json()
    url = f"/api/v1/predictions/{accepted['request_id']}"
    assert client.delete(url).status_code == 204
    gone = client.get(url)
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"
    assert client.delete(url).status_code == 404


def test_bad_input_is_422_with_fields_and_unknown_routes_are_error_bodies(client: TestClient) -> None:
    bad = client.post("/api/v1/predict", json={"features": HOUSE | {"gr_liv_area": "NaN", "extra": 1}})
    assert bad.status_code == 422
    assert {"features.gr_liv_area", "features.extra"} <= {d["field"] for d in bad.json()["details"]}
    not_json = client.post("/api/v1/predict", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    assert not_json.json()["code"] == "validation_error"
    missing = client.get("/api/v1/nowhere")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_kafka_down_is_503_for_predict_and_batch(module_settings: Settings) -> None:
    dead = module_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{stack.free_port()}"})
    with TestClient(create_app(dead)) as down:
        one = down.post("/api/v1/predict", json={"features": HOUSE}, headers={"Idempotency-Key": "k-503"})
        assert one.status_code == 503
        assert one.json()["code"] == "kafka_unavailable"
        many = down.post("/api/v1/batch", json={"houses": [HOUSE]})
        assert many.status_code == 503
