"""POST /batch and POST /jobs through a worker process; status, ordered downloads, erasure."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import HOUSE, poll
from tests.conftest import WorkerProcess
from tests.producers.tables import houses_table, invalid_rows

pytestmark = pytest.mark.integration
FILE_ROWS = 50_000


def test_batch_runs_valid_rows_and_reports_invalid_ones(client: TestClient, worker: WorkerProcess) -> None:
    houses = [HOUSE, HOUSE | {"gr_liv_area": 10}, HOUSE | {"year_built": 2004, "neighborhood": "Somerset"}]
    response = client.post("/api/v1/batch", json={"houses": houses})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["total"], body["queued"], body["failed"]) == (3, 2, 1)
    assert body["errors"] == [
        {"row": 1, "field": "gr_liv_area", "reason": "Input should be greater than or equal to 200"}
    ]
    state = poll(client, body["status_url"])
    assert (state["state"], state["done"], state["failed"], state["queued"]) == ("finished", 2, 1, 0)
    rows = client.get(body["results_url"].replace("csv", "json")).json()
    assert [r["row"] for r in rows] == [0, 1, 2]
    assert [r["status"] for r in rows] == ["done", "failed", "done"]
    assert "gr_liv_area" in rows[1]["error"]
    assert rows[2]["price"] > rows[0]["price"] * 0.5


def test_all_or_nothing_rejects_the_batch(client: TestClient) -> None:
    response = client.post(
        "/api/v1/batch", json={"houses": [HOUSE, HOUSE | {"bedrooms": 99}], "all_or_nothing": True, "job_id": "aon-1"}
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "houses.1.bedrooms"
    assert client.get("/api/v1/jobs/aon-1").status_code == 404


def test_a_50k_row_file_has_one_answer_per_row_in_order(
    client: TestClient, worker: WorkerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "houses.csv"
    houses_table(FILE_ROWS).to_csv(path, index=False)
    with path.open("rb") as handle:
        response = client.post("/api/v1/jobs", files={"file": ("houses.csv", handle, "text/csv")})
    assert response.status_code == 202, response.text
    job = response.json()
    bad = invalid_rows(FILE_ROWS)
    assert (job["total"], job["failed"]) == (FILE_ROWS, len(bad))
    state = poll(client, job["status_url"], timeout=240)
    assert (state["done"], state["failed"]) == (FILE_ROWS - len(bad), len(bad))

    download = client.get(job["results_url"])
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [int(r["row"]) for r in rows] == list(range(FILE_ROWS))
    assert {int(r["row"]) for r in rows if r["status"] == "failed"} == bad
    assert all(r["error"] for r in rows if r["status"] == "failed")
    assert all(float(r["price"]) > 0 for r in rows if r["status"] == "done")

    parquet = pq.read_table(io.BytesIO(client.get(f"{job['status_url']}/results?format=parquet").content))
    assert parquet.column("row").to_pylist() == list(range(FILE_ROWS))

    assert client.delete(job["status_url"]).status_code == 204
    assert client.get(job["status_url"]).status_code == 404
    assert client.get(f"/api/v1/predictions/{rows[0]['request_id']}").status_code == 404


def test_bad_files_are_415_and_422(client: TestClient) -> None:
    wrong_type = client.post("/api/v1/jobs", files={"file": ("houses.txt", b"a,b\n1,2\n", "text/plain")})
    assert wrong_type.status_code == 415
    unknown = client.post(
        "/api/v1/jobs", files={"file": ("h.csv", b"gr_liv_area,year_built,neighborhood,colour\n", "text/csv")}
    )
    assert unknown.status_code == 422
    assert "colour" in unknown.json()["message"]
    empty = client.post("/api/v1/jobs", files={"file": ("h.csv", b"gr_liv_area,year_built,neighborhood\n", "text/csv")})
    assert empty.status_code == 422


def test_unknown_job_is_404(client: TestClient) -> None:
    for url in ("/api/v1/jobs/nope", "/api/v1/jobs/nope/results?format=json"):
        response = client.get(url)
        assert response.status_code == 404
        assert json.loads(response.text)["code"] == "not_found"
