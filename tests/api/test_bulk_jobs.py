"""File jobs in chunks through the API and a worker: one message per chunk, per-row answers in input order
(poison rows failed by themselves, with the reasons a single request gets), detail on request, resume by
job id without sending a chunk twice, erase, and gzip uploads answered as the plain file."""

from __future__ import annotations

import gzip
import io

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from infra.settings import Settings
from schemas import PropertyFeatures
from schemas.chunks import MAX_FULL_DETAIL_ROWS, reason_of, row_errors
from tests.api.conftest import poll
from tests.api.test_jobs import traces
from tests.conftest import WorkerProcess
from tests.integration.test_end_to_end import messages_on
from tests.jobs.tables import houses_table, invalid_rows

pytestmark = pytest.mark.integration
ROWS = 2_620  # three chunks of the default 1,000 rows, the last one short
INVALID_EVERY = 97


def csv_bytes(rows: int) -> bytes:
    text = io.StringIO()
    houses_table(rows, INVALID_EVERY).to_csv(text, index=False)
    return text.getvalue().encode()


def single_reason(row: int) -> str:
    raw = houses_table(ROWS, INVALID_EVERY).iloc[row].to_dict()
    try:
        PropertyFeatures.model_validate({k: v for k, v in raw.items() if v == v and v is not None})
    except ValidationError as exc:
        return reason_of(row_errors(row, exc))
    raise AssertionError(f"row {row} is valid")


def test_a_file_job_goes_in_chunks_and_resumes_without_sending_any_twice(
    client: TestClient, module_settings: Settings, worker: WorkerProcess
) -> None:
    chunks = -(-ROWS // module_settings.job_chunk_rows)
    bad = invalid_rows(ROWS, INVALID_EVERY)
    data = csv_bytes(ROWS)
    before = messages_on(module_settings, module_settings.requests_topic)
    response = client.post("/api/v1/jobs", files={"file": ("h.csv", data)}, data={"job_id": "bulk-1"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["total"], body["queued"], body["failed"]) == (ROWS, ROWS - len(bad), len(bad))
    assert messages_on(module_settings, module_settings.requests_topic) - before == chunks

    state = poll(client, body["status_url"], timeout=120)
    assert (state["done"], state["failed"], state["queued"]) == (ROWS - len(bad), len(bad), 0)
    rows = client.get(f"{body['status_url']}/results?format=json").json()
    assert [r["row"] for r in rows] == list(range(ROWS))
    assert [r["request_id"] for r in rows[:2]] == ["bulk-1-0", "bulk-1-1"]
    assert {r["row"] for r in rows if r["status"] == "failed"} == bad
    first_bad = min(bad)
    assert rows[first_bad]["error_code"] == "invalid_features"
    assert rows[first_bad]["error"] == single_reason(first_bad)
    assert all(r["price"] > 0 and r["lower_90"] < r["price"] < r["upper_90"] for r in rows if r["row"] not in bad)
    summary = client.get(f"{body['status_url']}/rows/0").json()
    assert summary["price"] == rows[0]["price"]
    assert "contributions" not in summary

    again = client.post("/api/v1/jobs", files={"file": ("h.csv", data)}, data={"job_id": "bulk-1"})
    assert again.status_code == 202, again.text
    assert again.json()["queued"] == 0
    assert messages_on(module_settings, module_settings.requests_topic) - before == chunks  # nothing re-sent
    assert client.get(body["status_url"]).json()["done"] == ROWS - len(bad)
    at_full = client.post("/api/v1/jobs", files={"file": ("h.csv", data)}, data={"job_id": "bulk-1", "detail": "full"})
    assert at_full.status_code == 409, at_full.text  # its 1,000-row chunks are too large for detail=full
    assert f"at most {MAX_FULL_DETAIL_ROWS}" in at_full.text

    assert client.delete(body["status_url"]).status_code == 204
    assert client.get(body["status_url"]).status_code == 404
    assert traces(module_settings, "bulk-1") == []


def test_detail_full_keeps_contributions_and_comparables(client: TestClient, worker: WorkerProcess) -> None:
    response = client.post(
        "/api/v1/jobs", files={"file": ("h.csv", csv_bytes(40))}, data={"job_id": "bulk-full", "detail": "full"}
    )
    assert response.status_code == 202, response.text
    poll(client, response.json()["status_url"], timeout=120)
    row = client.get("/api/v1/jobs/bulk-full/rows/3").json()
    assert row["status"] == "done"
    assert row["contributions"]
    assert row["comparables"]
    base = sum(c["value"] for c in row["contributions"])
    assert 0 < row["price"] - base < row["price"]  # base price + contributions = price, base positive
    assert client.get("/api/v1/jobs/bulk-full/rows/40").status_code == 404


def test_a_gzip_upload_is_scored_as_the_same_file_plain(client: TestClient, worker: WorkerProcess) -> None:
    """The same rows as .csv and as .csv.gz: the same totals, the same answers row by row."""
    data = csv_bytes(ROWS)
    squeezed = gzip.compress(data)
    assert len(squeezed) < len(data) // 3
    answers = {}
    for job_id, name, body in (("bulk-plain", "h.csv", data), ("bulk-gzip", "h.csv.gz", squeezed)):
        response = client.post("/api/v1/jobs", files={"file": (name, body)}, data={"job_id": job_id})
        assert response.status_code == 202, response.text
        assert response.json()["total"] == ROWS
        poll(client, response.json()["status_url"], timeout=120)
        rows = client.get(f"/api/v1/jobs/{job_id}/results?format=json").json()
        answers[job_id] = [(r["row"], r["status"], r["price"], r["lower_90"], r["error"]) for r in rows]
    assert len(answers["bulk-gzip"]) == ROWS
    assert answers["bulk-gzip"] == answers["bulk-plain"]
    for job_id in answers:
        assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204


def test_a_sale_for_a_file_jobs_row_is_attributed_once_and_erased_with_the_job(
    client: TestClient, module_settings: Settings, worker: WorkerProcess
) -> None:
    rows = 120
    response = client.post("/api/v1/jobs", files={"file": ("h.csv", csv_bytes(rows))}, data={"job_id": "bulk-fb"})
    assert response.status_code == 202, response.text
    poll(client, response.json()["status_url"], timeout=120)
    answer = client.get("/api/v1/jobs/bulk-fb/results?format=json").json()[3]
    assert answer["request_id"] == "bulk-fb-3"
    sale = round(answer["price"] * 1.05, 2)

    given = client.post("/api/v1/feedback", json={"request_id": "bulk-fb-3", "sale_price": sale})
    assert given.status_code == 201, given.text
    body = given.json()
    assert (body["variant"], body["model_version"]) == ("champion", answer["model_version"])
    assert abs(body["absolute_pct_error"] - abs(answer["price"] - sale) / sale * 100) < 0.01
    assert body["figures"]["neighborhood"] == "unknown"
    again = client.post("/api/v1/feedback", json={"request_id": "bulk-fb-3", "sale_price": sale})
    assert (again.status_code, again.json()["code"]) == (409, "feedback_exists")
    poison = INVALID_EVERY - 1
    unscored = client.post("/api/v1/feedback", json={"request_id": f"bulk-fb-{poison}", "sale_price": sale})
    assert (unscored.status_code, unscored.json()["code"]) == (409, "not_scored")
    for unknown in (f"bulk-fb-{rows}", "bulk-fb-x", "bulk-fb"):
        assert client.post("/api/v1/feedback", json={"request_id": unknown, "sale_price": sale}).status_code == 404

    assert client.delete("/api/v1/jobs/bulk-fb").status_code == 204
    assert traces(module_settings, "bulk-fb") == []
    gone = client.post("/api/v1/feedback", json={"request_id": "bulk-fb-3", "sale_price": sale})
    assert gone.status_code == 404
