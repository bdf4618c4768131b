"""POST /batch and POST /jobs through a worker process; status, ordered downloads, erasure."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
import redis
from fastapi.testclient import TestClient

from infra.settings import Settings
from state.keys import Keys
from tests.api.conftest import HOUSE, poll
from tests.conftest import WorkerProcess

pytestmark = pytest.mark.integration


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


HEADER = b"gr_liv_area,year_built,neighborhood"
TWO_ROWS = b"1500,1990,Gilbert\n2100,2004,Somerset\n"


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


GOOD_PARQUET = parquet_bytes(
    pa.table({"gr_liv_area": [1500, 2100], "year_built": [1990, 2004], "neighborhood": ["Gilbert", "Somerset"]})
)
GOOD_GZIP = gzip.compress(HEADER + b"\n" + TWO_ROWS * 50)
REFUSED = {
    "wrong-extension": ("houses.txt", HEADER + b"\n" + TWO_ROWS, 415, "use .csv, .csv.gz or .parquet"),
    "gzipped-parquet": ("h.parquet.gz", gzip.compress(GOOD_PARQUET), 415, "compressed already"),
    "not-gzip": ("h.csv.gz", HEADER + b"\n" + TWO_ROWS, 422, "not a readable gzip file"),
    "truncated-gzip": ("h.csv.gz", GOOD_GZIP[: len(GOOD_GZIP) // 2], 422, "not a readable gzip file"),
    "gzip-bad-checksum": ("h.csv.gz", GOOD_GZIP[:-8] + b"\0\0\0\0" + GOOD_GZIP[-4:], 422, "not a readable gzip file"),
    "truncated-last-line": ("h.csv", HEADER + b"\n" + TWO_ROWS + b"2400,19", 422, "line 4 has 2 cells"),
    "header-only": ("h.csv", HEADER + b"\n", 422, "no rows"),
    "unknown-column": ("h.csv", HEADER + b",colour\n1500,1990,Gilbert,red\n", 422, "colour"),
    "not-parquet": ("h.parquet", HEADER + b"\n" + TWO_ROWS, 422, "not a readable Parquet file"),
    "truncated-parquet": ("h.parquet", GOOD_PARQUET[: len(GOOD_PARQUET) // 2], 422, "Parquet"),
    "parquet-wrong-type": (
        "h.parquet",
        parquet_bytes(pa.table({"gr_liv_area": [[1500]], "year_built": [1990], "neighborhood": ["Gilbert"]})),
        422,
        "gr_liv_area (list<",
    ),
}
READ_CORRECTLY = {
    "bom": ("h.csv", b"\xef\xbb\xbf" + HEADER + b"\n" + TWO_ROWS),
    "crlf": ("h.csv", (HEADER + b"\n" + TWO_ROWS).replace(b"\n", b"\r\n")),
    "quoted-line-break": ("h.csv", HEADER + b'\n1500,1990,"Gil\nbert"\n2100,2004,Somerset\n'),
    "csv-without-extension": ("houses", HEADER + b"\n" + TWO_ROWS),
    "parquet-without-extension": ("houses", GOOD_PARQUET),
    "gzip": ("h.csv.gz", gzip.compress(HEADER + b"\n" + TWO_ROWS)),
    "gzip-under-a-csv-name": ("h.csv", gzip.compress(HEADER + b"\n" + TWO_ROWS)),
    "gzip-without-extension": ("houses", gzip.compress(HEADER + b"\n" + TWO_ROWS)),
}


def traces(settings: Settings, job_id: str) -> list[str]:
    """Every Redis key, and every jobs-index member, that mentions the job."""
    store = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    keys = Keys(settings.redis_prefix)
    found = list(store.scan_iter(match=f"*{job_id}*", count=1_000))
    return found + [m for m in store.zrange(keys.jobs_index, 0, -1) if job_id in m]


@pytest.mark.parametrize("case", REFUSED)
def test_bad_files_get_a_reason_and_leave_no_job(client: TestClient, module_settings: Settings, case: str) -> None:
    name, data, status, reason = REFUSED[case]
    job_id = f"bad-{case}"
    response = client.post("/api/v1/jobs", files={"file": (name, data)}, data={"job_id": job_id})
    assert response.status_code == status, response.text
    assert reason in response.json()["message"]
    if status == 422:
        assert [(d["field"], reason in d["reason"]) for d in response.json()["details"]] == [("file", True)]
    assert traces(module_settings, job_id) == []


@pytest.mark.parametrize("case", READ_CORRECTLY)
def test_odd_but_valid_files_are_read_correctly(client: TestClient, case: str) -> None:
    name, data = READ_CORRECTLY[case]
    response = client.post("/api/v1/jobs", files={"file": (name, data)})
    assert response.status_code == 202, response.text
    assert response.json()["total"] == 2
    assert client.delete(response.json()["status_url"]).status_code == 204


GIB = 1 << 30
GIB_BLOCK = 1 << 20


def gigabyte_upload(boundary: str) -> Iterator[bytes]:
    """A 1 GiB CSV as a multipart body, made as it is sent."""
    yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'.encode()
    yield HEADER + b"\n"
    block = TWO_ROWS * (GIB_BLOCK // len(TWO_ROWS))
    for _ in range(GIB // len(block)):
        yield block
    yield f"\r\n--{boundary}--\r\n".encode()


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_gigabyte_file_over_the_cap_is_413(client: TestClient, module_settings: Settings, declared: bool) -> None:
    boundary = "valuestream-big"
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    if declared:
        headers["content-length"] = str(sum(len(part) for part in gigabyte_upload(boundary)))
    response = client.post("/api/v1/jobs", content=gigabyte_upload(boundary), headers=headers)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["code"] == "too_large"
    assert module_settings.api_max_upload_bytes < GIB


def test_unknown_job_is_404(client: TestClient) -> None:
    for url in ("/api/v1/jobs/nope", "/api/v1/jobs/nope/results?format=json"):
        response = client.get(url)
        assert response.status_code == 404
        assert json.loads(response.text)["code"] == "not_found"
