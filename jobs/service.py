"""The job service: open a job for its owner, submit its rows, report its state, read its results
in input order, and erase it. API routes and the CLI call it; it raises domain errors only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from jobs.chunks import ChunkSubmitter, PublishChunks
from jobs.download import answered_rows, bulk_rows
from jobs.rows import JobSubmitter, Publish, Submitted
from schemas import Source, utc_now
from schemas.chunks import Detail, RowOutcome, rows_at_most
from schemas.jobs import JobAccepted, JobPublic, JobRow, ResultLine, job_pace, line_of, split_row_request_id
from state import State, StoredJob, Viewer

READ_CHUNK = 1_000


class JobNotFoundError(LookupError):
    """Unknown, expired or erased job, or one the viewer may not see."""


class RowNotFoundError(LookupError):
    """No such row in a bulk job, or it is not answered yet."""


class JobConflictError(Exception):
    """The job id belongs to another key."""


@dataclass(frozen=True)
class BulkRow:
    """A bulk job's row and its answer as kept (None while queued), with the model version that scored it."""

    job_id: str
    row: int
    outcome: RowOutcome | None
    model_version: str | None


def status_url(job_id: str) -> str:
    return f"/api/v1/jobs/{job_id}"


def accepted(job_id: str, total: int, outcome: Submitted) -> JobAccepted:
    return JobAccepted(
        job_id=job_id,
        total=total,
        queued=outcome.queued,
        failed=outcome.failed,
        errors=outcome.errors,
        status_url=status_url(job_id),
        results_url=f"{status_url(job_id)}/results?format=csv",
    )


def public(job: StoredJob) -> JobPublic:
    queued = max(0, job.total - job.done - job.failed)
    if job.created_at is not None:
        rate, eta = job_pace(job.done + job.failed, job.total, job.created_at, utc_now())
    else:
        rate, eta = 0.0, None if queued else 0.0
    return JobPublic(
        job_id=job.job_id,
        source=job.source,
        state="finished" if queued == 0 else "running",
        created_at=job.created_at,
        total=job.total,
        queued=queued,
        done=job.done,
        failed=job.failed,
        rate_per_second=rate,
        eta_seconds=eta,
    )


class JobService:
    def __init__(self, state: State, publish: Publish, publish_chunks: PublishChunks, chunk_rows: int) -> None:
        self.state = state
        self.publish = publish
        self.publish_chunks = publish_chunks
        self.chunk_rows = chunk_rows

    async def _claim(
        self, viewer: Viewer, job_id: str, total: int, source: Source, chunk_rows: int | None
    ) -> StoredJob | None:
        """Create the job, or find the viewer's own job of that id (a retry); None when it is new."""
        found = await self.state.jobs.get(job_id)
        if found is not None and not viewer.sees(found.owner):
            raise JobConflictError(f"job id {job_id} is already in use")
        if found is None:
            await self.state.jobs.create(job_id, total, source, viewer.owner, utc_now(), chunk_rows)
        return found

    async def open(self, viewer: Viewer, job_id: str, total: int, source: Source, with_meta: bool) -> JobSubmitter:
        """A submitter of single requests for a new job, or for a retry by its owner (which skips rows already in)."""
        found = await self._claim(viewer, job_id, total, source, None)
        return JobSubmitter(
            self.state, self.publish, job_id, source, skip_existing=found is not None, with_meta=with_meta
        )

    async def open_bulk(
        self,
        viewer: Viewer,
        job_id: str,
        total: int,
        source: Source,
        detail: Detail = "summary",
        check: bool = True,
    ) -> ChunkSubmitter:
        """A submitter of chunks for a new bulk job, or for a retry by its owner (which sends only chunks
        neither sent nor answered); a new job's chunks are the configured size, at most what the contract
        allows at ``detail`` (``schemas.chunks.rows_at_most``), and a retry keeps the chunk size the job was
        created with. ``check``: count and list invalid rows as they are sent (``jobs.chunks``)."""
        most = rows_at_most(detail)
        chunk_rows = min(self.chunk_rows, most)
        found = await self._claim(viewer, job_id, total, source, chunk_rows)
        if found is not None:
            if found.chunk_rows is None:
                raise JobConflictError(f"job {job_id} is a job of single requests, not a bulk job")
            chunk_rows = found.chunk_rows
        if chunk_rows > most:  # a summary job resumed at detail=full
            raise JobConflictError(
                f"job {job_id} was started with chunks of {chunk_rows} rows; at detail={detail} a chunk holds at most "
                f"{most}: resume it at detail=summary, or start a new job"
            )
        return ChunkSubmitter(
            self.state,
            self.publish_chunks,
            job_id,
            total,
            source,
            chunk_rows,
            detail,
            resume=found is not None,
            check=check,
        )

    async def find(self, job_id: str, viewer: Viewer) -> StoredJob:
        job = await self.state.jobs.get(job_id)
        if job is None or not viewer.sees(job.owner):
            raise JobNotFoundError(f"no job {job_id}")
        return job

    async def status(self, job_id: str, viewer: Viewer) -> JobPublic:
        return public(await self.find(job_id, viewer))

    async def rows(self, job: StoredJob, chunk: int = READ_CHUNK) -> AsyncIterator[list[ResultLine]]:
        """Result lines in input order, about ``chunk`` at a time (queued rows say so)."""
        if job.chunk_rows is not None:
            async for rows in bulk_rows(self.state, job.job_id, job.total, job.chunk_rows, chunk):
                yield rows
            return
        async for pairs in self.state.jobs.iter_results(job.job_id, job.total, chunk):
            yield [line_of(JobRow.of(job.job_id, row, result)) for row, result in pairs]

    async def answered_rows(self, job: StoredJob, chunk: int = READ_CHUNK) -> AsyncIterator[list[ResultLine]]:
        """A bulk job's rows in input order as they are answered (``jobs.download.answered_rows``: an empty
        list while the next chunk waits for its answer)."""
        if job.chunk_rows is None:
            raise JobConflictError(f"job {job.job_id} is a job of single requests, not a bulk job")
        async for rows in answered_rows(self.state, job.job_id, job.total, job.chunk_rows, chunk):
            yield rows

    async def _bulk_row(self, job: StoredJob, row: int) -> BulkRow:
        assert job.chunk_rows is not None
        (found,) = await self.state.chunks.read(job.job_id, [row // job.chunk_rows])
        if found is None:
            return BulkRow(job.job_id, row, None, None)
        return BulkRow(job.job_id, row, found.outcome(row), found.model_version)

    async def row(self, job_id: str, row: int, viewer: Viewer) -> RowOutcome:
        """One answered row of a bulk job, with contributions and comparables when the job asked for them."""
        job = await self.find(job_id, viewer)
        if job.chunk_rows is None:
            raise RowNotFoundError(f"job {job_id} is not a bulk job: its rows are predictions of their own")
        if not 0 <= row < job.total:
            raise RowNotFoundError(f"job {job_id} has rows 0 to {job.total - 1}")
        found = await self._bulk_row(job, row)
        if found.outcome is None:
            raise RowNotFoundError(f"row {row} of job {job_id} is not answered yet")
        return found.outcome

    async def bulk_row(self, request_id: str, viewer: Viewer) -> BulkRow | None:
        """The bulk job's row a request id names (``{job_id}-{row}``, as in its results), answered or not;
        None when no bulk job the viewer sees has that row."""
        named = split_row_request_id(request_id)
        if named is None:
            return None
        job_id, row = named
        job = await self.state.jobs.get(job_id)
        if job is None or not viewer.sees(job.owner) or job.chunk_rows is None or not 0 <= row < job.total:
            return None
        return await self._bulk_row(job, row)

    async def erase(self, job_id: str, viewer: Viewer) -> None:
        job = await self.find(job_id, viewer)
        await self.state.jobs.erase(job_id, job.total, per_row_keys=job.chunk_rows is None)
