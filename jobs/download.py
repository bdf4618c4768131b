"""A bulk job's results in input order, read chunk by chunk from the compact store (``state.chunks``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from schemas.chunks import RowOutcome
from schemas.jobs import JOB_ROW_COLUMNS, JOB_ROWS, JobRow, row_request_id
from state import State
from state.chunks import StoredChunk

COPIED_FIELDS = tuple(
    name
    for name in JOB_ROW_COLUMNS
    if name in RowOutcome.model_fields and name not in {"row", "status", "flags", "error"}
)
"""A stored answer's fields that a result line carries as they are (price, intervals, FSD, confidence ...)."""


def outcome_fields(job_id: str, outcome: dict[str, Any], model_version: str | None) -> dict[str, Any]:
    """A result line's fields from a stored row's ``RowOutcome`` fields (``state.chunks.row_fields``)."""
    row, status, error = outcome["row"], outcome["status"], outcome.get("error")
    return {
        "row": row,
        "request_id": row_request_id(job_id, row),
        "status": status,
        **{name: outcome.get(name) for name in COPIED_FIELDS},
        "flags": None if status == "failed" else "; ".join(outcome.get("flags", ())),
        "model_version": model_version,
        "error_code": None if error is None else error["code"],
        "error": None if error is None else error["message"],
    }


def queued_row(job_id: str, row: int) -> JobRow:
    return JobRow(row=row, request_id=row_request_id(job_id, row), status="queued")


def _layout(total: int, chunk_rows: int, read_rows: int) -> tuple[int, int]:
    """A job's chunk count, and how many chunks one read of about ``read_rows`` rows takes."""
    return (total + chunk_rows - 1) // chunk_rows, max(1, read_rows // chunk_rows)


async def bulk_rows(
    state: State, job_id: str, total: int, chunk_rows: int, read_rows: int
) -> AsyncIterator[list[JobRow]]:
    """Every row once, in input order: answered chunks from the store, the rest as queued rows."""
    chunks, per_read = _layout(total, chunk_rows, read_rows)
    for start in range(0, chunks, per_read):
        indexes = list(range(start, min(start + per_read, chunks)))
        rows: list[JobRow] = []
        for index, found in zip(indexes, await state.chunks.read(job_id, indexes), strict=True):
            if found is None:
                first = index * chunk_rows
                rows.extend(queued_row(job_id, r) for r in range(first, min(first + chunk_rows, total)))
                continue
            rows.extend(chunk_rows_of(job_id, found))
        yield rows


async def answered_rows(
    state: State, job_id: str, total: int, chunk_rows: int, read_rows: int
) -> AsyncIterator[list[JobRow]]:
    """Every row once, in input order, as soon as its chunk and every chunk before it are answered: a
    results file written while the job is still being scored. An empty list whenever the next chunk
    is not answered yet; the caller then waits (or gives up) before asking for more."""
    chunks, per_read = _layout(total, chunk_rows, read_rows)
    start = 0
    while start < chunks:
        indexes = list(range(start, min(start + per_read, chunks)))
        rows: list[JobRow] = []
        for found in await state.chunks.read(job_id, indexes):
            if found is None:
                break
            rows.extend(chunk_rows_of(job_id, found))
            start += 1
        yield rows


def chunk_rows_of(job_id: str, found: StoredChunk) -> list[JobRow]:
    return JOB_ROWS.validate_python([outcome_fields(job_id, fields, found.model_version) for fields in found.fields])
