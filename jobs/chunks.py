"""A bulk job's rows through Kafka in chunks: ``chunk_rows`` rows per message, keyed by job and chunk.

Rows are grouped by their input position (chunk ``c`` holds rows ``c * chunk_rows`` onwards), so a
chunk means the same rows on every run of the same file. Each chunk is checked here too (one
vectorised pass, ``schemas.chunks.check_rows``) only to tell the uploader at once which rows are
invalid; every row travels as it was read, and the worker answers invalid rows ``failed`` with the
same reasons. A chunk acknowledged by Kafka is remembered (``state.chunks``): submitting the job
again (a retry, or a resumed CLI run) sends only chunks neither sent nor answered. A last chunk
shorter than ``chunk_rows`` is sent only with the file's last row, so an interrupted run never
marks a partial chunk as sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from jobs.rows import MAX_REPORTED_ERRORS, Submitted
from schemas import Source, utc_now
from schemas.chunks import Detail, RowChunk, check_rows, columns_of
from state import State

PublishChunks = Callable[[Sequence[RowChunk]], Awaitable[None]]
SEND_CHUNKS = 4
"""Chunks handed to Kafka together (then marked sent): short steps keep the event loop responsive."""


class ChunkSubmitter:
    def __init__(
        self,
        state: State,
        publish: PublishChunks,
        job_id: str,
        total: int,
        source: Source,
        chunk_rows: int,
        detail: Detail,
        resume: bool,
    ) -> None:
        self.chunks = state.chunks
        self.publish = publish
        self.job_id = job_id
        self.total = total
        self.source = source
        self.chunk_rows = chunk_rows
        self.detail = detail
        self.resume = resume
        self.submitted_at = utc_now()
        self.next_row = 0  # rows taken in (sent, skipped or waiting to fill their chunk)
        self.outcome = Submitted()
        self._waiting: list[dict[str, Any]] = []
        self._done_before: set[int] | None = None

    async def submit(self, rows: Sequence[dict[str, Any]]) -> Submitted:
        """Take rows in input order; whole chunks go out (the last one with the file's last row)."""
        self._waiting.extend(rows)
        self.next_row += len(rows)
        ready: list[RowChunk] = []
        while len(self._waiting) >= self.chunk_rows or (self._waiting and self.next_row >= self.total):
            taken, self._waiting = self._waiting[: self.chunk_rows], self._waiting[self.chunk_rows :]
            first_row = self.next_row - len(self._waiting) - len(taken)
            chunk = await self._chunk(first_row, taken)
            if chunk is not None:
                ready.append(chunk)
            if len(ready) >= SEND_CHUNKS:
                await self._send(ready)
                ready = []
        await self._send(ready)
        return self.outcome

    async def _chunk(self, first_row: int, rows: list[dict[str, Any]]) -> RowChunk | None:
        index = first_row // self.chunk_rows
        if self.resume:
            if self._done_before is None:
                self._done_before = await self.chunks.sent(self.job_id) | await self.chunks.answered(self.job_id)
            if index in self._done_before:
                self.outcome.skipped += len(rows)
                return None
        checks = check_rows(rows, first_row)
        invalid = [e for errors in checks.errors.values() for e in errors]
        self.outcome.failed += len(checks.errors)
        self.outcome.queued += len(checks.valid)
        room = MAX_REPORTED_ERRORS - len(self.outcome.errors)
        self.outcome.errors.extend(invalid[: max(room, 0)])
        return RowChunk.model_construct(  # built from checked values: no second validation of every cell
            job_id=self.job_id,
            chunk=index,
            first_row=first_row,
            submitted_at=self.submitted_at,
            source=self.source,
            detail=self.detail,
            columns=columns_of(rows),  # each name once: about a third of the bytes of one object per row
        )

    async def _send(self, chunks: list[RowChunk]) -> None:
        if chunks:
            await self.publish(chunks)
            await self.chunks.mark_sent(self.job_id, [c.chunk for c in chunks])
