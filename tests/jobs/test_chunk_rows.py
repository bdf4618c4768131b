"""A file job's chunk size: the configured size at ``summary``, at most ``MAX_FULL_DETAIL_ROWS`` at
``detail=full``, kept by a resumed job (which then cannot switch to ``full`` with larger chunks)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from infra.settings import Settings
from jobs.service import JobConflictError, JobService
from schemas.chunks import MAX_CHUNK_ROWS, MAX_FULL_DETAIL_ROWS, RowChunk
from state import State, Viewer
from tests.state.test_predictions import run_with_store

pytestmark = pytest.mark.integration
OWNER = Viewer("k1")


async def nothing(_: Sequence[object]) -> None:
    """No Kafka here: only the job's record and its chunk size are looked at."""


def test_a_full_detail_job_gets_smaller_chunks_and_a_resume_keeps_its_own(base_settings: Settings) -> None:
    async def body(store: State) -> None:
        jobs = JobService(store, nothing, nothing, MAX_CHUNK_ROWS)
        summary = await jobs.open_bulk(OWNER, "s", 5_000, "file", "summary")
        full = await jobs.open_bulk(OWNER, "f", 5_000, "file", "full")
        assert (summary.chunk_rows, full.chunk_rows) == (MAX_CHUNK_ROWS, MAX_FULL_DETAIL_ROWS)
        assert (await store.jobs.get("s")).chunk_rows == MAX_CHUNK_ROWS  # type: ignore[union-attr]
        assert (await store.jobs.get("f")).chunk_rows == MAX_FULL_DETAIL_ROWS  # type: ignore[union-attr]

        resumed = await jobs.open_bulk(OWNER, "f", 5_000, "file", "summary")
        assert resumed.chunk_rows == MAX_FULL_DETAIL_ROWS  # a chunk means the same rows on every run
        with pytest.raises(JobConflictError, match=f"at most {MAX_FULL_DETAIL_ROWS}"):
            await jobs.open_bulk(OWNER, "s", 5_000, "file", "full")

    run_with_store(base_settings, body)


def test_a_full_detail_chunk_holds_at_most_its_rows() -> None:
    def chunk(rows: int, detail: str) -> dict[str, object]:
        return {"job_id": "j", "chunk": 0, "first_row": 0, "detail": detail, "columns": {"gr_liv_area": [1500] * rows}}

    assert RowChunk.model_validate(chunk(MAX_CHUNK_ROWS, "summary")).size == MAX_CHUNK_ROWS
    assert RowChunk.model_validate(chunk(MAX_FULL_DETAIL_ROWS, "full")).size == MAX_FULL_DETAIL_ROWS
    with pytest.raises(ValueError, match=f"detail=full holds at most {MAX_FULL_DETAIL_ROWS} rows"):
        RowChunk.model_validate(chunk(MAX_FULL_DETAIL_ROWS + 1, "full"))
    rows = chunk(0, "full") | {"columns": None, "rows": [{"gr_liv_area": 1500}] * (MAX_FULL_DETAIL_ROWS + 1)}
    with pytest.raises(ValueError, match="detail=full holds at most"):
        RowChunk.model_validate(rows)
