"""Bulk files are lossless: several CSV and Parquet uploads at once, on a machine whose cores are
busy, each get exactly one answer per row, at that row's number, scored from that row's own house.

Each row carries coordinates of its own, so each has a price of its own: every row's price is
compared with what the same model says in this process about the same house, so a row read twice,
skipped, shifted or glued to another shows up here even when the row count is right.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from consumers.model import ModelHolder, features_frame
from infra.settings import Settings
from schemas import PropertyFeatures
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


def own_prices(settings: Settings, frame: pd.DataFrame) -> list[float | None]:
    """Each row's price from the champion in this process (None for an invalid row)."""
    holder = ModelHolder(settings)
    holder.refresh()
    bad = invalid_rows(len(frame))
    houses = [
        PropertyFeatures.model_validate({k: v for k, v in raw.items() if v == v and v is not None})
        for i, raw in enumerate(frame.to_dict("records"))
        if i not in bad
    ]
    prices = iter(holder.current.predict(features_frame(houses))["price"].tolist())
    return [None if i in bad else float(next(prices)) for i in range(len(frame))]


def check_job(client: httpx.Client, job: dict[str, Any], prices: list[float | None]) -> None:
    rows = client.get(f"{job['status_url']}/results?format=json").json()
    assert [r["row"] for r in rows] == list(range(len(prices))), "not exactly one answer per row, in order"
    for got, price in zip(rows, prices, strict=True):
        row = got["row"]
        assert got["request_id"] == f"{job['job_id']}-{row}"
        if price is None:
            assert got["status"] == "failed"
            assert "gr_liv_area" in got["error"]
            continue
        assert got["status"] == "done", (row, got["error"])
        assert got["price"] == pytest.approx(price, abs=0.01), f"row {row} scored another row"


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
        prices = own_prices(module_settings, frame)
        assert len(set(prices)) > 0.9 * ROWS, "rows are not told apart by their prices"
        for job in jobs:
            check_job(client, job, prices)

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
