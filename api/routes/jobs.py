"""File jobs: upload a CSV or Parquet file, follow the job, download its results, erase it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile
from fastapi.responses import StreamingResponse

from api.deps import JobsDep, SettingsDep, StateDep, ViewerDep
from api.errors import ApiError
from api.headers import IdempotencyKey
from api.uploads import saved_upload
from infra.kafka import KafkaUnavailableError
from jobs.service import JobService, accepted
from jobs.tables import (
    EXPANDED_BYTES_PER_ROW,
    MEDIA_TYPES,
    RowEncoder,
    TableError,
    TableTooLargeError,
    file_format,
    inspect,
    iter_columns,
)
from schemas.api import ErrorBody, FieldError
from schemas.chunks import Detail, RowOutcome
from schemas.jobs import JobAccepted, JobFormat, JobPublic
from state import StoredJob

router = APIRouter(prefix="/jobs", tags=["jobs"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown or expired job, or created by another key."},
    503: {"model": ErrorBody, "description": "The result store is not reachable; see Retry-After."},
}
JOB_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


def invalid_file(reason: str) -> ApiError:
    return ApiError(422, "invalid_file", reason, details=[FieldError(field="file", reason=reason)])


@router.post(
    "",
    status_code=202,
    response_model=JobAccepted,
    responses={
        409: {"model": ErrorBody, "description": "The client `job_id` belongs to another key."},
        413: {
            "model": ErrorBody,
            "description": "Upload larger than `api_max_upload_bytes` (`too_large`, bytes as sent, compressed or "
            "not), more rows than `job_max_rows` (`too_many_rows`), or a gzip file expanding beyond "
            f"{EXPANDED_BYTES_PER_ROW} bytes per allowed row (`too_large`).",
        },
        415: {"model": ErrorBody, "description": "Neither .csv, .csv.gz nor .parquet."},
        422: {"model": ErrorBody, "description": "Unreadable file (CSV, Parquet or gzip), unknown or missing columns."},
        503: {
            "model": ErrorBody,
            "description": "Kafka or the result store could not take the rows; retry with the same job id.",
        },
    },
)
async def upload_job(
    file: Annotated[
        UploadFile,
        File(
            description="CSV, gzip-compressed CSV (.csv.gz, or gzip bytes) or Parquet; column names are "
            "PropertyFeatures fields."
        ),
    ],
    store: StateDep,
    jobs: JobsDep,
    settings: SettingsDep,
    viewer: ViewerDep,
    job_id: Annotated[str | None, Form(min_length=1, max_length=48, pattern=JOB_ID_PATTERN)] = None,
    detail: Annotated[
        Detail,
        Form(description="summary: price, intervals, FSD, status per row; full: with contributions and comparables."),
    ] = "summary",
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """Stream a file's rows to Kafka as one job, in chunks of rows (the upload is saved to disk and read in
    chunks); the same job id again resumes: only chunks neither sent nor answered go out.

    A CSV may be sent gzip-compressed (`houses.csv.gz`, or gzip bytes under a `.csv` name or none): the
    size cap counts the bytes sent, and the file is expanded as it is read, never whole, so a
    1,000,000-row CSV (about 600 MB) fits the default cap gzipped (a CSV of houses is about 6 times
    smaller). A damaged or cut-short gzip file is a `422` with the reason, before any row is queued."""
    async with saved_upload(file) as path:
        try:
            fmt = await asyncio.to_thread(file_format, path, file.filename or "")
        except TableError as exc:
            raise ApiError(415, "unsupported_media_type", str(exc)) from exc
        try:
            total = await asyncio.to_thread(inspect, path, fmt, settings.job_max_rows)
        except TableTooLargeError as exc:
            raise ApiError(413, exc.code, str(exc)) from exc
        except TableError as exc:
            raise invalid_file(str(exc)) from exc
        if total == 0:
            raise invalid_file("the file has no rows")
        job = await store.idempotency.claim(viewer.owner, idempotency_key, job_id or uuid.uuid4().hex)
        submitter = await jobs.open_bulk(viewer, job, total, "file", detail)
        try:
            with closing(iter_columns(path, fmt)) as blocks:
                while block := await asyncio.to_thread(next, blocks, None):
                    await submitter.submit(block)
        except KafkaUnavailableError as exc:
            await store.idempotency.release(viewer.owner, idempotency_key)
            raise ApiError(503, "kafka_unavailable", f"{exc}; retry with job_id {job} to resume.") from exc
    return accepted(job, total, submitter.outcome)


@router.get("/{job_id}", response_model=JobPublic, responses=NOT_FOUND)
async def get_job(job_id: str, jobs: JobsDep, viewer: ViewerDep) -> JobPublic:
    """Progress of a job: total, queued, done, failed, rate and estimated time left."""
    return await jobs.status(job_id, viewer)


async def encoded(jobs: JobService, job: StoredJob, fmt: JobFormat) -> AsyncIterator[bytes]:
    encoder = RowEncoder(fmt)
    async for rows in jobs.rows(job):
        yield encoder.encode(rows)
    yield encoder.finish()


@router.get(
    "/{job_id}/results",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One line per input row, in input order: a price, or the reason the row failed.",
            "content": {media: {} for media in MEDIA_TYPES.values()},
        },
        **NOT_FOUND,
    },
)
async def job_results(
    job_id: str,
    jobs: JobsDep,
    viewer: ViewerDep,
    format: JobFormat = Query("csv", description="csv, json or parquet."),
) -> StreamingResponse:
    """Download a job's results (streamed); rows still queued appear with status `queued`."""
    job = await jobs.find(job_id, viewer)
    return StreamingResponse(
        encoded(jobs, job, format),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{job_id}.{format}"'},
    )


@router.get("/{job_id}/rows/{row}", response_model=RowOutcome, response_model_exclude_none=True, responses=NOT_FOUND)
async def job_row(job_id: str, row: Annotated[int, Path(ge=0)], jobs: JobsDep, viewer: ViewerDep) -> RowOutcome:
    """One row of a file job: its valuation in brief, with contributions and comparables when the job was
    uploaded with `detail=full`; 404 while the row is not answered yet."""
    return await jobs.row(job_id, row, viewer)


@router.delete("/{job_id}", status_code=204, responses=NOT_FOUND)
async def delete_job(job_id: str, jobs: JobsDep, viewer: ViewerDep) -> Response:
    """Erase a job everywhere now (rows, counters, results, live feed); rows still on their way are dropped."""
    await jobs.erase(job_id, viewer)
    return Response(status_code=204)
