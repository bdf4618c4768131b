"""A bulk job's results in input order, read chunk by chunk from the compact store (``state.chunks``),
straight into result lines (``ResultLine``: the values of ``JOB_ROW_COLUMNS``), without an object per row."""

from __future__ import annotations

from collections.abc import AsyncIterator

from schemas.jobs import ResultLine, row_request_id
from state import State
from state.chunks import SUMMARY_COLUMNS, StoredChunk, summary_of

LINE_COLUMNS = ("row", "request_id", *SUMMARY_COLUMNS[:12], "model_version", "model_variant", *SUMMARY_COLUMNS[12:])
"""How ``chunk_lines`` lays a line out: exactly ``JOB_ROW_COLUMNS`` (a test holds them together)."""
_UNANSWERED = (None,) * 15


def queued_line(job_id: str, row: int) -> ResultLine:
    return (row, row_request_id(job_id, row), "queued", *_UNANSWERED)


def chunk_lines(job_id: str, found: StoredChunk) -> list[ResultLine]:
    """A stored chunk's result lines (bulk rows come from the champion: no variant)."""
    version, first = found.model_version, found.first_row
    lines = []
    for row, cells in enumerate(found.cells, start=first):
        summary = summary_of(cells)
        lines.append((row, row_request_id(job_id, row), *summary[:12], version, None, *summary[12:]))
    return lines


def _layout(total: int, chunk_rows: int, read_rows: int) -> tuple[int, int]:
    """A job's chunk count, and how many chunks one read of about ``read_rows`` rows takes."""
    return (total + chunk_rows - 1) // chunk_rows, max(1, read_rows // chunk_rows)


async def bulk_rows(
    state: State, job_id: str, total: int, chunk_rows: int, read_rows: int
) -> AsyncIterator[list[ResultLine]]:
    """Every row once, in input order: answered chunks from the store, the rest as queued rows."""
    chunks, per_read = _layout(total, chunk_rows, read_rows)
    for start in range(0, chunks, per_read):
        indexes = list(range(start, min(start + per_read, chunks)))
        rows: list[ResultLine] = []
        for index, found in zip(indexes, await state.chunks.read(job_id, indexes), strict=True):
            if found is None:
                first = index * chunk_rows
                rows.extend(queued_line(job_id, r) for r in range(first, min(first + chunk_rows, total)))
                continue
            rows.extend(chunk_lines(job_id, found))
        yield rows


async def answered_rows(
    state: State, job_id: str, total: int, chunk_rows: int, read_rows: int
) -> AsyncIterator[list[ResultLine]]:
    """Every row once, in input order, as soon as its chunk and every chunk before it are answered: a
    results file written while the job is still being scored. An empty list whenever the next chunk
    is not answered yet; the caller then waits (or gives up) before asking for more."""
    chunks, per_read = _layout(total, chunk_rows, read_rows)
    start = 0
    while start < chunks:
        indexes = list(range(start, min(start + per_read, chunks)))
        rows: list[ResultLine] = []
        for found in await state.chunks.read(job_id, indexes):
            if found is None:
                break
            rows.extend(chunk_lines(job_id, found))
            start += 1
        yield rows
