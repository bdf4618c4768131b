"""A bulk job's rows through Kafka in chunks: ``chunk_rows`` rows per message, keyed by job and chunk.

The file's cells arrive field by field (``jobs.tables.iter_columns``) and travel so
(``RowChunk.columns``). Rows are grouped by their input position (chunk ``c`` holds rows
``c * chunk_rows`` onwards), so a chunk means the same rows on every run of the same file. Each chunk is
checked here too (column by column, ``schemas.checks.check_columns``) only to tell the uploader at once
which rows are invalid (``check``: an upload's ``202`` lists them; the CLI, which reports only once the
results are in, counts them there and skips this second check, a fifth of its CPU). Every row travels
as it was read, and the worker answers invalid rows ``failed`` with the same reasons. A chunk
acknowledged by Kafka is remembered (``state.chunks``): submitting the job again (a retry, or a resumed
CLI run) sends only chunks neither sent nor answered. A last chunk shorter than ``chunk_rows`` is sent
only with the file's last row, so an interrupted run never marks a partial chunk as sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from jobs.rows import MAX_REPORTED_ERRORS, Submitted
from schemas import Source, utc_now
from schemas.checks import check_columns
from schemas.chunks import Columns, Detail, RowChunk, size_of
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
        check: bool = True,
    ) -> None:
        self.chunks = state.chunks
        self.publish = publish
        self.job_id = job_id
        self.total = total
        self.source = source
        self.chunk_rows = chunk_rows
        self.detail = detail
        self.resume = resume
        self.check = check
        self.submitted_at = utc_now()
        self.next_row = 0  # rows taken in (sent, skipped or waiting to fill their chunk)
        self.outcome = Submitted()
        self._waiting: Columns = {}  # rows taken in but not sent yet: too few for a chunk
        self._done_before: set[int] | None = None

    def _joined(self, columns: Columns) -> Columns:
        """The waiting rows, then ``columns`` (a field only one side has is empty on the other)."""
        if not self._waiting:
            return columns
        waiting, size = self._waiting, size_of(self._waiting)
        added = size_of(columns)
        names = dict.fromkeys([*waiting, *columns])
        return {n: (waiting.get(n) or [None] * size) + (columns.get(n) or [None] * added) for n in names}

    async def submit(self, columns: Columns) -> Submitted:
        """Take rows (cells by field) in input order; whole chunks go out (the last one with the file's last row)."""
        cells = self._joined(columns)
        available = size_of(cells)
        self.next_row += size_of(columns)
        first_row = self.next_row - available  # the input row of cells' first row
        taken = 0
        ready: list[RowChunk] = []
        while available - taken >= self.chunk_rows or (taken < available and self.next_row >= self.total):
            size = min(self.chunk_rows, available - taken)
            chunk = await self._chunk(first_row + taken, {n: c[taken : taken + size] for n, c in cells.items()})
            taken += size
            if chunk is not None:
                ready.append(chunk)
            if len(ready) >= SEND_CHUNKS:
                await self._send(ready)
                ready = []
        await self._send(ready)
        self._waiting = {n: c[taken:] for n, c in cells.items()} if taken < available else {}
        return self.outcome

    async def _chunk(self, first_row: int, columns: Columns) -> RowChunk | None:
        index = first_row // self.chunk_rows
        if self.resume:
            if self._done_before is None:
                self._done_before = await self.chunks.sent(self.job_id) | await self.chunks.answered(self.job_id)
            if index in self._done_before:
                self.outcome.skipped += size_of(columns)
                return None
        if not self.check:
            self.outcome.queued += size_of(columns)
            return self._construct(index, first_row, columns)
        checks = check_columns(columns, first_row)
        invalid = [e for errors in checks.errors.values() for e in errors]
        self.outcome.failed += len(checks.errors)
        self.outcome.queued += len(checks.valid)
        room = MAX_REPORTED_ERRORS - len(self.outcome.errors)
        self.outcome.errors.extend(invalid[: max(room, 0)])
        return self._construct(index, first_row, columns)

    def _construct(self, index: int, first_row: int, columns: Columns) -> RowChunk:
        return RowChunk.model_construct(  # the worker validates the envelope and checks every row
            job_id=self.job_id,
            chunk=index,
            first_row=first_row,
            submitted_at=self.submitted_at,
            source=self.source,
            detail=self.detail,
            columns=columns,  # each name once: about a third of the bytes of one object per row
        )

    async def _send(self, chunks: list[RowChunk]) -> None:
        if chunks:
            await self.publish(chunks)
            await self.chunks.mark_sent(self.job_id, [c.chunk for c in chunks])
