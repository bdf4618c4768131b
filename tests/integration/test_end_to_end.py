"""Submit through the API, score in a worker process, read back through the API: real Kafka and Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi.testclient import TestClient

from api.app import create_app
from infra import stack
from infra.settings import Settings
from schemas.features import EXAMPLE_HOUSE
from state.keys import Keys
from tests.conftest import StartWorker

pytestmark = pytest.mark.integration

HOUSE: dict[str, Any] = EXAMPLE_HOUSE


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_until(lambda: test_client.app.state.publisher.connected, 30)  # type: ignore[attr-defined]
        yield test_client


def wait_until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)


def poll(client: TestClient, url: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(url).json()
        if body["status"] != "queued" or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def messages_on(settings: Settings, topic: str) -> int:
    async def count() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers)
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            ends = await consumer.end_offsets(partitions)
            return int(sum(ends.values()))
        finally:
            await consumer.stop()

    return asyncio.run(count())


def test_submit_and_poll_crosses_kafka_and_redis(
    client: TestClient, settings: Settings, start_worker: StartWorker, champion: str
) -> None:
    start_worker(settings)
    response = client.post("/api/v1/predict", json={"features": HOUSE})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    assert accepted["status_url"] == f"/api/v1/predictions/{accepted['request_id']}"

    result = poll(client, accepted["status_url"])
    assert result["status"] == "done", result
    assert 50_000 < result["price"] < 1_000_000
    assert result["model"] == {"name": settings.model_name, "version": champion, "variant": "champion"}
    levels = {i["level"]: i for i in result["intervals"]}
    assert levels[0.8]["lower"] <= result["price"] <= levels[0.8]["upper"]
    assert levels[0.9]["lower"] <= levels[0.8]["lower"]
    assert result["timings"]["scored_at"] >= result["timings"]["submitted_at"]
    assert messages_on(settings, settings.requests_topic) == 1
    assert messages_on(settings, settings.results_topic) == 1


def test_invalid_body_is_a_field_level_422_and_never_reaches_kafka(client: TestClient, settings: Settings) -> None:
    response = client.post(
        "/api/v1/predict",
        json={"features": HOUSE | {"gr_liv_area": -10, "year_built": 3000, "colour": "red"}},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    fields = {d["field"] for d in body["details"]}
    assert {"features.gr_liv_area", "features.year_built", "features.colour"} <= fields
    assert messages_on(settings, settings.requests_topic) == 0


def test_unknown_prediction_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/predictions/does-not-exist")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_health_needs_a_serving_worker(client: TestClient, settings: Settings, start_worker: StartWorker) -> None:
    before = client.get("/api/v1/health")
    assert before.status_code == 503
    assert before.json()["kafka"]["ok"]
    assert before.json()["redis"]["ok"]
    assert not before.json()["model"]["ok"]
    start_worker(settings)
    after = client.get("/api/v1/health")
    assert after.status_code == 200, after.text
    assert after.json()["status"] == "ok"


def test_kafka_unreachable_is_503_and_nothing_is_queued(settings: Settings) -> None:
    dead = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{stack.free_port()}"})
    with TestClient(create_app(dead)) as client:
        response = client.post("/api/v1/predict", json={"request_id": "no-kafka-1", "features": HOUSE})
        assert response.status_code == 503
        assert response.json()["code"] == "kafka_unavailable"
        assert client.get("/api/v1/health").status_code == 503
    store = redis.Redis.from_url(settings.redis_url)
    assert store.get(Keys(settings.redis_prefix).prediction("no-kafka-1")) is None
