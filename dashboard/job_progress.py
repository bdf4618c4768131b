"""File jobs from the state store: the viewer's recent jobs and each job's counters, with rate and ETA."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, computed_field

from dashboard.context import run, state
from schemas.jobs import job_pace
from schemas.messages import utc_now
from state import StoredJob, Viewer


class JobProgress(BaseModel):
    job_id: str
    total: int
    done: int = 0
    failed: int = 0
    created_at: datetime
    source: str = "file"
    seen_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def processed(self) -> int:
        return self.done + self.failed

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.processed / self.total)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def finished(self) -> bool:
        return self.processed >= self.total

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        """Rows per second since the job was created, while it runs."""
        rate, _ = job_pace(self.processed, self.total, self.created_at, self.seen_at)
        return None if self.finished or rate <= 0 else rate

    @computed_field  # type: ignore[prop-decorator]
    @property
    def eta_seconds(self) -> float | None:
        _, eta = job_pace(self.processed, self.total, self.created_at, self.seen_at)
        return None if self.finished else eta


def _progress(job: StoredJob, now: datetime) -> JobProgress | None:
    if job.created_at is None:
        return None  # not created yet
    return JobProgress.model_validate(job.model_dump() | {"seen_at": now})


async def _visible(viewer: Viewer, job_id: str) -> StoredJob | None:
    job = await state().jobs.get(job_id)
    return job if job is not None and viewer.sees(job.owner) else None


def job_progress(viewer: Viewer, job_id: str) -> JobProgress | None:
    job = run(_visible(viewer, job_id))
    return None if job is None else _progress(job, utc_now())


def recent_jobs(viewer: Viewer, limit: int = 20) -> list[JobProgress]:
    """The viewer's newest jobs, newest first; expired ones are left out."""
    now = utc_now()
    jobs = [_progress(job, now) for job in run(state().jobs.recent(viewer, limit))]
    return [job for job in jobs if job is not None]
