"""API keys (401, ownership as 404), rate limits (429 + Retry-After) and size caps (413)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from infra.api_keys import hash_key
from infra.settings import Settings
from tests.api.conftest import HOUSE, connected_client
from tests.conftest import isolated_settings

pytestmark = pytest.mark.integration
SALT = "test-salt"


@pytest.fixture(scope="module")
def guarded(base_settings: Settings) -> Iterator[TestClient]:
    keys = ",".join(f"{name}:{hash_key(SALT, f'secret-{name}')}" for name in ("alice", "bob"))
    settings = isolated_settings(
        base_settings,
        api_keys=keys,
        api_key_salt=SALT,
        rate_limit="8/minute",
        api_max_json_bytes=2048,
        api_max_upload_bytes=4096,
        batch_max_rows=2,
        job_max_rows=3,
    )
    yield from connected_client(settings)


def key(name: str) -> dict[str, str]:
    return {"X-API-Key": f"secret-{name}"}


def test_keys_are_required_and_checked(guarded: TestClient) -> None:
    for headers in ({}, {"X-API-Key": "secret-mallory"}):
        response = guarded.get("/api/v1/predictions/x", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "ApiKey"
    assert guarded.get("/api/v1/health/live").status_code == 200


def test_a_key_sees_only_what_it_created(guarded: TestClient) -> None:
    created = guarded.post("/api/v1/predict", json={"request_id": "alice-1", "features": HOUSE}, headers=key("alice"))
    assert created.status_code == 202, created.text
    assert guarded.get("/api/v1/predictions/alice-1", headers=key("alice")).status_code == 200
    assert guarded.get("/api/v1/predictions/alice-1", headers=key("bob")).status_code == 404
    assert guarded.delete("/api/v1/predictions/alice-1", headers=key("bob")).status_code == 404
    taken = guarded.post("/api/v1/predict", json={"request_id": "alice-1", "features": HOUSE}, headers=key("bob"))
    assert taken.status_code == 409
    job = guarded.post("/api/v1/batch", json={"houses": [HOUSE]}, headers=key("alice")).json()
    assert guarded.get(job["status_url"], headers=key("bob")).status_code == 404


def test_size_and_count_caps_are_413(guarded: TestClient) -> None:
    big = guarded.post("/api/v1/batch", json={"houses": [HOUSE] * 20}, headers=key("bob"))
    assert big.status_code == 413
    assert big.json()["code"] == "too_large"
    many = guarded.post("/api/v1/batch", json={"houses": [HOUSE] * 3}, headers=key("bob"))
    assert many.status_code == 413
    assert many.json()["code"] == "too_many_rows"
    rows = b"gr_liv_area,year_built,neighborhood\n" + b"1500,1990,Edwards\n" * 4
    upload = guarded.post("/api/v1/jobs", files={"file": ("h.csv", rows, "text/csv")}, headers=key("bob"))
    assert upload.status_code == 413
    huge = guarded.post("/api/v1/jobs", files={"file": ("h.csv", rows * 200, "text/csv")}, headers=key("bob"))
    assert huge.status_code == 413
    assert huge.json()["code"] == "too_large"
    # The byte cap counts the bytes sent: the same file gzipped fits, and its rows meet the row cap.
    squeezed = gzip.compress(rows * 200)
    assert len(squeezed) < 4096
    counted = guarded.post("/api/v1/jobs", files={"file": ("h.csv.gz", squeezed)}, headers=key("bob"))
    assert counted.status_code == 413
    assert counted.json()["code"] == "too_many_rows"
    assert "more than 3 rows" in counted.json()["message"]


def test_rate_limit_is_429_with_retry_after(guarded: TestClient) -> None:
    statuses = [
        guarded.get("/api/v1/predictions/x", headers=key("carol" if False else "bob")).status_code for _ in range(10)
    ]
    assert 429 in statuses
    limited = guarded.get("/api/v1/predictions/x", headers=key("bob"))
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert guarded.get("/api/v1/predictions/x", headers=key("alice")).status_code in {404, 429}
