"""What batch and file jobs share in the API: opening a job for an owner, its public state."""

from __future__ import annotations

from datetime import datetime

from api.errors import ApiError
from api.records import Records
from infra.store import ResultStore
from producers.jobs import Submitted, create_job
from schemas import utc_now
from schemas.jobs import JobAccepted, JobPublic, job_pace


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


async def open_job(store: ResultStore, records: Records, owner: str, job_id: str, total: int, source: str) -> bool:
    """Create the job, or find it again for a retry by its owner (True: resume, skip rows already in)."""
    counters = await store.job_counters(job_id)
    if counters:
        if not records.visible(counters.get("owner"), owner):
            raise ApiError(409, "conflict", f"job id {job_id} is already in use")
        return True
    await create_job(store, job_id, total, source, owner)
    return False


async def job_state(store: ResultStore, records: Records, job_id: str, owner: str) -> JobPublic:
    counters = await store.job_counters(job_id)
    if "total" not in counters or not records.visible(counters.get("owner"), owner):
        raise ApiError(404, "not_found", f"no job {job_id}")
    total, done, failed = (int(counters.get(k, 0)) for k in ("total", "done", "failed"))
    queued = max(0, total - done - failed)
    created = datetime.fromisoformat(counters["created_at"]) if counters.get("created_at") else None
    rate, eta = job_pace(done + failed, total, created, utc_now()) if created else (0.0, None if queued else 0.0)
    return JobPublic(
        job_id=job_id,
        source=counters.get("source", "unknown"),
        state="finished" if queued == 0 else "running",
        created_at=created,
        total=total,
        queued=queued,
        done=done,
        failed=failed,
        rate_per_second=rate,
        eta_seconds=eta,
    )
