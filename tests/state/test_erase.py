"""Erase means erased, and retention bounds everything: random sequences of submit, batch, file job,
feedback and erase through the real API and worker, then a scan of the whole keyspace.

Erases race the worker on purpose (a request or job erased while its messages are still in
Kafka): the scan runs only once the workers' group has committed every request sent, so a
result written back after its erase would be found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.drain import drained
from infra.settings import Settings
from tests.api.conftest import HOUSE
from tests.conftest import WorkerProcess
from tests.state.keyspace import everything

pytestmark = pytest.mark.integration
CSV = b"gr_liv_area,year_built,neighborhood\n1500,1990,Edwards\n2100,2004,Gilbert\n980,1955,Old_Town\n"


@dataclass
class Ledger:
    predictions: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    erased: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def api(client: TestClient, worker: WorkerProcess) -> TestClient:
    """The module's API (``tests.api.conftest``) with its scoring worker running."""
    return client


@pytest.fixture(scope="module")
def stack_settings(module_settings: Settings) -> Settings:
    return module_settings


def submit(api: TestClient, ledger: Ledger, wait: float) -> str:
    response = api.post(f"/api/v1/predict?wait={wait}", json={"features": HOUSE})
    assert response.status_code in (200, 202), response.text
    request_id = str(response.json()["request_id"])
    ledger.predictions.append(request_id)
    return request_id


def batch(api: TestClient, ledger: Ledger) -> str:
    response = api.post("/api/v1/batch", json={"houses": [HOUSE, HOUSE, {"gr_liv_area": -1}]})
    assert response.status_code == 202, response.text
    ledger.jobs.append(job := str(response.json()["job_id"]))
    return job


def upload(api: TestClient, ledger: Ledger) -> str:
    response = api.post("/api/v1/jobs", files={"file": ("houses.csv", CSV, "text/csv")})
    assert response.status_code == 202, response.text
    ledger.jobs.append(job := str(response.json()["job_id"]))
    return job


def feedback(api: TestClient, ledger: Ledger) -> None:
    for request_id in ledger.predictions:
        if api.get(f"/api/v1/predictions/{request_id}").json().get("status") == "done":
            response = api.post("/api/v1/feedback", json={"request_id": request_id, "sale_price": 181_000})
            assert response.status_code in (201, 409), response.text
            return


def erase_prediction(api: TestClient, ledger: Ledger, request_id: str) -> None:
    assert api.delete(f"/api/v1/predictions/{request_id}").status_code == 204
    ledger.predictions.remove(request_id)
    ledger.erased.add(request_id)


def erase_job(api: TestClient, ledger: Ledger, job_id: str) -> None:
    assert api.delete(f"/api/v1/jobs/{job_id}").status_code == 204
    ledger.jobs.remove(job_id)
    ledger.erased.add(job_id)


def step(api: TestClient, ledger: Ledger, operation: str) -> None:
    if operation == "submit":
        submit(api, ledger, wait=5)
    elif operation == "batch":
        batch(api, ledger)
    elif operation == "upload":
        upload(api, ledger)
    elif operation == "feedback":
        feedback(api, ledger)
    elif operation == "erase_prediction" and ledger.predictions:
        erase_prediction(api, ledger, ledger.predictions[0])
    elif operation == "erase_job" and ledger.jobs:
        erase_job(api, ledger, ledger.jobs[0])
    elif operation == "erase_in_flight":  # erased before the worker has scored it
        erase_prediction(api, ledger, submit(api, ledger, wait=0))
    elif operation == "erase_job_in_flight":
        erase_job(api, ledger, batch(api, ledger))


OPERATIONS = (
    "submit",
    "batch",
    "upload",
    "feedback",
    "erase_prediction",
    "erase_job",
    "erase_in_flight",
    "erase_job_in_flight",
)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(OPERATIONS), min_size=3, max_size=8))
def test_no_erased_id_survives_anywhere(api: TestClient, stack_settings: Settings, operations: list[str]) -> None:
    ledger = Ledger()
    for operation in operations:
        step(api, ledger, operation)
    for extra in ("erase_in_flight", "erase_job_in_flight"):  # every sequence races at least one erase
        step(api, ledger, extra)
    drained(stack_settings)
    leftovers = [
        f"{found.kind} {found.key!r} holds {erased!r}"
        for found in everything(stack_settings.redis_url, stack_settings.redis_prefix)
        for erased in ledger.erased
        if erased in found.text
    ]
    assert not leftovers, f"after {operations}:\n" + "\n".join(leftovers[:20])
    for request_id in ledger.predictions:  # erase removed only what it was asked to
        assert api.get(f"/api/v1/predictions/{request_id}").status_code == 200
    for job_id in ledger.jobs:
        assert api.get(f"/api/v1/jobs/{job_id}").status_code == 200


def test_retention_bounds_every_key(api: TestClient, stack_settings: Settings) -> None:
    """Every key expires: none lives longer than the retention period (after a bit of everything)."""
    ledger = Ledger()
    for operation in ("submit", "batch", "upload", "feedback", "erase_in_flight", "erase_job_in_flight"):
        step(api, ledger, operation)
    drained(stack_settings)
    found = list(everything(stack_settings.redis_url, stack_settings.redis_prefix))
    assert {f.kind for f in found} >= {"string", "hash", "stream", "zset"}
    unbounded = sorted({f.key for f in found if not 0 < f.ttl <= stack_settings.result_ttl_seconds})
    assert not unbounded, unbounded


def test_a_reused_id_after_erase_is_a_new_request(api: TestClient) -> None:
    """The tombstone drops what was submitted before the erase, not a later request with the same id."""
    request_id = f"reuse-{uuid.uuid4().hex[:8]}"
    first = api.post("/api/v1/predict?wait=5", json={"request_id": request_id, "features": HOUSE})
    assert first.status_code in (200, 202)
    assert api.delete(f"/api/v1/predictions/{request_id}").status_code == 204
    again = api.post("/api/v1/predict?wait=10", json={"request_id": request_id, "features": HOUSE})
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "done"
