"""Bulk ingestion of a CSV (plain or gzip) or Parquet file through Kafka as one job, resumable.

The job id is ``--job-id`` or derived from the file's bytes; rows travel in chunks keyed by job
and chunk (``jobs.chunks``). Running the same file again finds the job, skips every chunk that
was acknowledged by Kafka or answered, and sends the rest, so an interrupted run resumes without
sending a chunk twice; a chunk Kafka delivers twice is still counted once (``state.chunks``).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from infra.settings import Settings
from jobs.service import JobService
from jobs.tables import RowEncoder, TableError, TableFormat, file_format, inspect, iter_columns, table_format
from producers.client import ValuationClient
from schemas.chunks import INVALID_FEATURES, Detail, size_of
from schemas.jobs import JOB_ROW_COLUMNS, JobFormat
from state import StoredJob, Viewer

POLL_SECONDS = 0.25
ERROR_CODE = JOB_ROW_COLUMNS.index("error_code")


class IngestTimeoutError(TimeoutError):
    """The job was not finished within the wait limit (the results file is not written)."""


@dataclass(frozen=True)
class IngestOutcome:
    job_id: str
    total: int
    sent: int
    skipped: int
    invalid: int
    done: int
    failed: int
    output: Path | None


def file_job_id(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return f"f{digest.hexdigest()[:24]}"


def results_path(path: Path, fmt: TableFormat) -> Path:
    """``houses.results.csv`` next to ``houses.csv`` (and to ``houses.csv.gz``: results are not compressed)."""
    if fmt == "csv.gz":
        return path.with_name(f"{Path(path.stem).stem}.results.csv")
    return path.with_name(f"{path.stem}.results.{fmt}")


def output_format(path: Path) -> JobFormat:
    """The results file's format from its suffix: .csv, .json or .parquet."""
    if path.suffix.lower() == ".json":
        return "json"
    fmt = table_format(path.name)
    if fmt == "csv.gz":
        raise TableError(f"results are written as .csv, .json or .parquet, not {path.name!r}")
    return fmt


async def ingest(
    settings: Settings,
    path: Path,
    *,
    output: Path | None = None,
    job_id: str | None = None,
    owner: str = "anonymous",
    wait_seconds: float = 3600.0,
    max_rows: int | None = None,
    progress: bool = True,
    detail: Detail = "summary",
) -> IngestOutcome:
    fmt = file_format(path)
    target = output or results_path(path, fmt)
    encoder = RowEncoder(output_format(target))  # an unusable results name fails before any row is sent
    total = await asyncio.to_thread(inspect, path, fmt)
    job: str = job_id if job_id else await asyncio.to_thread(file_job_id, path)
    async with ValuationClient(settings, source="file") as client:
        jobs = JobService(client.store, client.publish, client.publish_chunks, settings.job_chunk_rows)
        viewer = Viewer(owner, operator=True)
        # Invalid rows are counted in the results (below), not checked a second time as they are sent.
        submitter = await jobs.open_bulk(viewer, job, total, "file", detail, check=False)
        with (
            closing(iter_columns(path, fmt)) as blocks,
            tqdm(total=total, desc="sent", unit="row", disable=not progress) as bar,
        ):
            while block := await asyncio.to_thread(next, blocks, None):
                if max_rows is not None:
                    room = max(0, max_rows - submitter.next_row)
                    if not room:
                        break
                    block = {name: cells[:room] for name, cells in block.items()}
                await submitter.submit(block)
                bar.update(size_of(block))
        sent = submitter.outcome
        if max_rows is not None and submitter.next_row < total:
            return IngestOutcome(job, total, sent.queued, sent.skipped, 0, 0, 0, None)  # counted once all is in
        stored = await jobs.find(job, viewer)
        done, failed, invalid = await write_results(jobs, stored, viewer, target, encoder, wait_seconds, progress)
    return IngestOutcome(job, total, sent.queued, sent.skipped, invalid, done, failed, target)


async def write_results(
    jobs: JobService,
    job: StoredJob,
    viewer: Viewer,
    target: Path,
    encoder: RowEncoder,
    wait_seconds: float,
    progress: bool,
) -> tuple[int, int, int]:
    """The results file, written in input order while the rows are still being scored (so the download
    overlaps the scoring instead of following it); it appears only whole: written as ``<name>.part``,
    renamed when the last row is in, removed if the wait runs out. Returns the rows done, failed, and
    failed as invalid (``invalid_features``)."""
    deadline = time.monotonic() + wait_seconds
    partial = target.with_name(f"{target.name}.part")
    invalid = 0
    try:
        with (
            partial.open("wb") as handle,
            tqdm(total=job.total, desc="answered", unit="row", disable=not progress) as bar,
        ):
            async for rows in jobs.answered_rows(job):
                if rows:
                    invalid += sum(1 for line in rows if line[ERROR_CODE] == INVALID_FEATURES)
                    handle.write(encoder.encode(rows))
                    bar.update(len(rows))
                    continue
                now = await jobs.find(job.job_id, viewer)  # raises JobNotFoundError if the job was erased meanwhile
                if time.monotonic() > deadline:
                    answered = now.done + now.failed
                    raise IngestTimeoutError(
                        f"job {job.job_id}: {answered} of {job.total} rows answered in {wait_seconds} s"
                    )
                await asyncio.sleep(POLL_SECONDS)
            handle.write(encoder.finish())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    final = await jobs.find(job.job_id, viewer)
    return final.done, final.failed, invalid
