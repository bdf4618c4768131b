"""With Redis stopped, no route answers 500: every route that needs the store says 503 with
``Retry-After`` and the code ``store_unavailable``; health says which dependency is down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from infra import stack
from infra.settings import Settings
from state import StoreUnavailableError
from tests.api.conftest import HOUSE, connected_client
from tests.conftest import isolated_settings

pytestmark = pytest.mark.integration
CSV = b"gr_liv_area,year_built,neighborhood\n1500,1990,Edwards\n"
# Routes that work without the store: liveness, readiness (503 by design) and metrics (without feedback gauges).
WITHOUT_STORE = {
    "/api/v1/health/live": 200,
    "/api/v1/health": 503,
    "/api/v1/health/ready": 503,
    "/api/v1/metrics": 200,
    "/metrics": 200,
}


@pytest.fixture(scope="module")
def outage(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The API against a Redis of its own, stopped once the API is up."""
    folder: Path = tmp_path_factory.mktemp("outage-redis")
    redis = stack.start_redis(folder, stack.free_port())
    settings = isolated_settings(base_settings, redis_url=f"redis://127.0.0.1:{redis.port}/0", rate_limit="5/second")
    try:
        for client in connected_client(settings):
            redis.stop()
            yield client
    finally:
        redis.stop()


def call(client: TestClient, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    url = path.replace("{request_id}", "r-1").replace("{job_id}", "j-1").replace("{row}", "0")
    if path.endswith("/predict"):
        response = client.post(url, json={"features": HOUSE})
    elif path.endswith("/batch"):
        response = client.post(url, json={"houses": [HOUSE]})
    elif path.endswith("/jobs") and method == "POST":
        response = client.post(url, files={"file": ("h.csv", CSV, "text/csv")})
    elif path.endswith("/feedback"):
        response = client.post(url, json={"request_id": "r-1", "sale_price": 150_000})
    else:
        response = client.request(method, url)
    return response.status_code, dict(response.headers), response.content


def routes(client: TestClient) -> list[tuple[str, str]]:
    """Every operation of the served OpenAPI document, and the root metrics."""
    paths = client.get("/openapi.json").json()["paths"]
    found = [(method.upper(), path) for path, item in paths.items() for method in item]
    assert len(found) >= 15
    return [*found, ("GET", "/metrics")]


def test_no_route_answers_500_with_the_store_away(outage: TestClient) -> None:
    statuses = {}
    for method, path in routes(outage):
        status, headers, body = call(outage, method, path)
        statuses[f"{method} {path}"] = status
        assert status != 500, f"{method} {path}: {body[:300]!r}"
        if path in WITHOUT_STORE:
            assert status == WITHOUT_STORE[path], f"{method} {path}: {status}"
        elif path == "/api/v1/model":
            assert status in (200, 503)  # the registry, not the store
        else:
            assert status == 503, f"{method} {path}: {status} {body[:200]!r}"
            assert headers["retry-after"].isdigit()
            assert b'"store_unavailable"' in body, body
    health = outage.get("/api/v1/health").json()
    assert health["redis"]["ok"] is False
    assert "not reachable" in health["redis"]["detail"]


@pytest.fixture(scope="module")
def no_worker(base_settings: Settings) -> Iterator[TestClient]:
    yield from connected_client(isolated_settings(base_settings, rate_limit="none"))


@pytest.mark.parametrize("idempotency_key", [None, "retry-me"])
def test_a_request_in_kafka_is_202_when_the_store_fails_after_it(
    no_worker: TestClient, monkeypatch: pytest.MonkeyPatch, idempotency_key: str | None
) -> None:
    """Queued and handed to Kafka, then the store stops answering reads: the client still gets its id."""
    predictions = no_worker.app.state.store.predictions  # type: ignore[attr-defined]
    read = predictions.get
    answered = [0 if idempotency_key is None else 1]  # the idempotent path reads once before it publishes

    async def away(request_id: str) -> object:
        if answered[0] > 0:
            answered[0] -= 1
            return await read(request_id)
        raise StoreUnavailableError("the result store is not reachable (ConnectionError)")

    monkeypatch.setattr(predictions, "get", away)
    headers = {"Idempotency-Key": f"{idempotency_key}-{uuid.uuid4().hex}"} if idempotency_key else {}
    response = no_worker.post("/api/v1/predict?wait=1", json={"features": HOUSE}, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    assert response.headers["Location"].endswith(response.json()["request_id"])
