"""File jobs from Redis: the index of recent jobs and each job's counters, with rate and ETA."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, computed_field

from dashboard.context import redis_client
from schemas.jobs import job_pace
from schemas.keys import RedisKeys
from schemas.messages import utc_now


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


def _progress(job_id: str, fields: dict[str, str], now: datetime) -> JobProgress | None:
    if "total" not in fields or "created_at" not in fields:
        return None  # expired, or not created yet
    return JobProgress.model_validate({**fields, "job_id": job_id, "seen_at": now})


def job_progress(redis_url: str, prefix: str, job_id: str) -> JobProgress | None:
    fields: dict[str, str] = redis_client(redis_url).hgetall(RedisKeys(prefix).job(job_id))  # type: ignore[assignment]
    return _progress(job_id, fields, utc_now())


def recent_jobs(redis_url: str, prefix: str, limit: int = 20) -> list[JobProgress]:
    """The newest jobs of the index, newest first; expired ones are left out."""
    client = redis_client(redis_url)
    keys = RedisKeys(prefix)
    ids: list[str] = client.zrevrange(keys.jobs_index, 0, limit - 1)  # type: ignore[assignment]
    with client.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hgetall(keys.job(job_id))
        hashes: list[dict[str, str]] = pipe.execute()
    now = utc_now()
    jobs = [_progress(job_id, fields, now) for job_id, fields in zip(ids, hashes, strict=True)]
    return [job for job in jobs if job is not None]
