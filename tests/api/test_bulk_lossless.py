"""Bulk files are lossless: several CSV and Parquet uploads at once, on a machine whose cores are
busy, each get exactly one answer per row, at that row's number, scored from that row's own house.

Each row carries coordinates of its own, which the worker echoes (with the living area) in the result's
``subject``, so a row read twice, skipped, shifted or glued to another shows up here even when the
row count is right.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
import redis

from infra.settings import Settings
from schemas.messages import PredictionResult
from state.keys import Keys
from tests.api.conftest import wait_until
from tests.api.server import served
from tests.conftest import WorkerProcess
from tests.cpu import busy_cores
from tests.jobs.tables import houses_table, invalid_rows

pytestmark = pytest.mark.integration
ROWS = 10_000
UPLOADS = {"csv": 3, "parquet": 2}


@pytest.fixture(scope="module")
def api(module_settings: Settings) -> Iterator[str]:
    with served(module_settings) as url:
        yield url


def distinct_houses(rows: int) -> pd.DataFrame:
    """Real Ames houses, each at coordinates no other row has."""
    frame = houses_table(rows)
    frame["latitude"] = 42.02 + frame.index * 1e-6  # 10,000 rows span about a kilometre inside Ames
    frame["longitude"] = -93.63 - frame.index * 1e-6
    return frame


def upload(url: str, path: Path) -> httpx.Response:
    with path.open("rb") as handle:
        return httpx.post(f"{url}/api/v1/jobs", files={"file": (path.name, handle)}, timeout=600)


def check_job(store: redis.Redis, keys: Keys, job_id: str, frame: pd.DataFrame) -> None:
    stored = store.hgetall(keys.job_results(job_id))
    assert sorted(int(k) for k in stored) == list(range(len(frame))), "not exactly one answer per row"
    bad = invalid_rows(len(frame))
    for raw_row, raw in stored.items():
        row = int(raw_row)
        result = PredictionResult.model_validate_json(raw)
        assert (result.row, result.request_id, result.job_id) == (row, f"{job_id}-{row}", job_id)
        if row in bad:
            assert result.status == "failed"
            assert result.error is not None
            assert "gr_liv_area" in result.error.message
            continue
        assert result.status == "done", (row, result.error)
        assert result.subject is not None
        house = frame.iloc[row]
        echoed = (result.subject.gr_liv_area, result.subject.latitude, result.subject.longitude)
        assert echoed == (house["gr_liv_area"], house["latitude"], house["longitude"]), f"row {row} scored another row"


def test_concurrent_uploads_on_busy_cores_are_lossless_and_in_order(
    api: str, module_settings: Settings, worker: WorkerProcess, tmp_path: Path
) -> None:
    frame = distinct_houses(ROWS)
    files = []
    for fmt, copies in UPLOADS.items():
        for copy in range(copies):
            path = tmp_path / f"houses-{copy}.{fmt}"
            if fmt == "csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
            files.append(path)

    with busy_cores(), ThreadPoolExecutor(len(files)) as pool:
        responses = list(pool.map(lambda p: upload(api, p), files))
    assert [r.status_code for r in responses] == [202] * len(files), [r.text[:300] for r in responses]
    jobs = [r.json() for r in responses]
    assert {(j["total"], j["failed"]) for j in jobs} == {(ROWS, len(invalid_rows(ROWS)))}

    with httpx.Client(base_url=api, timeout=60) as client:

        def finished() -> bool:
            return all(client.get(j["status_url"]).json()["state"] == "finished" for j in jobs)

        wait_until(finished, timeout=900, step=1.0)
        store = redis.Redis.from_url(module_settings.redis_url)
        keys = Keys(module_settings.redis_prefix)
        for job in jobs:
            check_job(store, keys, job["job_id"], frame)

        first = jobs[0]
        rows = list(csv.DictReader(io.StringIO(client.get(first["results_url"]).text)))
        assert [int(r["row"]) for r in rows] == list(range(ROWS))
        assert {int(r["row"]) for r in rows if r["status"] == "failed"} == invalid_rows(ROWS)
        parquet = pq.read_table(io.BytesIO(client.get(f"{first['status_url']}/results?format=parquet").content))
        assert parquet.column("row").to_pylist() == list(range(ROWS))

        for job in jobs:
            assert client.delete(job["status_url"]).status_code == 204
            assert client.get(job["status_url"]).status_code == 404
        assert client.get(f"/api/v1/predictions/{rows[0]['request_id']}").status_code == 404
