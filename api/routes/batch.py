"""Many houses in one JSON body: each row validated on its own, the valid ones queued as a job."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from api.deps import JobsDep, SettingsDep, StateDep, ViewerDep
from api.errors import ApiError
from api.headers import IdempotencyKey
from infra.kafka import KafkaUnavailableError
from jobs.rows import validate_rows
from jobs.service import accepted
from schemas import utc_now
from schemas.api import ErrorBody, FieldError
from schemas.jobs import BatchCreate, JobAccepted

router = APIRouter(tags=["jobs"])


@router.post(
    "/batch",
    status_code=202,
    response_model=JobAccepted,
    responses={
        409: {"model": ErrorBody, "description": "The client `job_id` belongs to another key."},
        413: {"model": ErrorBody, "description": "More houses than `batch_max_rows`, or a body too large."},
        422: {"model": ErrorBody, "description": "Invalid body, or an invalid row with `all_or_nothing`."},
        503: {
            "model": ErrorBody,
            "description": "Kafka or the result store could not take the rows; retry with the same job id.",
        },
    },
)
async def create_batch(
    body: BatchCreate,
    store: StateDep,
    jobs: JobsDep,
    settings: SettingsDep,
    viewer: ViewerDep,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """Queue up to `batch_max_rows` houses as a job; invalid rows are reported and recorded as failed."""
    if len(body.houses) > settings.batch_max_rows:
        raise ApiError(413, "too_many_rows", f"at most {settings.batch_max_rows} houses per batch")
    job_id = await store.idempotency.claim(viewer.owner, idempotency_key, body.job_id or uuid.uuid4().hex)
    if body.all_or_nothing:
        errors = validate_rows(job_id, 0, body.houses, "batch", utc_now()).errors
        if errors:
            details = [FieldError(field=f"houses.{e.row}.{e.field}", reason=e.reason) for e in errors]
            raise ApiError(422, "validation_error", "some rows are invalid; nothing was queued.", details=details)
    submitter = await jobs.open(viewer, job_id, len(body.houses), "batch", with_meta=True)
    try:
        outcome = await submitter.submit(body.houses)
    except KafkaUnavailableError as exc:
        await store.idempotency.release(viewer.owner, idempotency_key)
        raise ApiError(503, "kafka_unavailable", f"{exc}; retry with job_id {job_id} to resume.") from exc
    return accepted(job_id, len(body.houses), outcome)
