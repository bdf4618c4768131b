"""Jobs: the counters hash, the index of recent jobs, the results hash in row order, and erase (a bulk
job's chunk answers included: ``state.chunks``).

A job's rows are answered by ``Predictions.save_results`` (which counts each row once); here
live the job itself and what only a whole job can do: list, read back in order, and erase.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel
from redis.asyncio import Redis

from schemas.jobs import row_request_id
from schemas.messages import PredictionResult
from state.clock import now_ms
from state.errors import guarded
from state.feed import Feed
from state.keys import Keys
from state.visibility import Viewer

ERASE_CHUNK = 1_000


class StoredJob(BaseModel):
    """A job's hash as stored (counters are absent until a row of that status lands)."""

    job_id: str
    total: int
    source: str = "unknown"
    owner: str | None = None
    created_at: datetime | None = None
    done: int = 0
    failed: int = 0
    chunk_rows: int | None = None
    """Rows per chunk of a bulk job (answers in ``state.chunks``); None for a job of single requests."""

    @classmethod
    def of(cls, job_id: str, fields: dict[str, Any]) -> StoredJob | None:
        if "total" not in fields:
            return None  # expired, erased, or not created yet
        return cls.model_validate({**fields, "job_id": job_id})


class Jobs:
    def __init__(self, client: Redis, keys: Keys, ttl_seconds: int, feed: Feed) -> None:
        self.client = client
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self.feed = feed

    @guarded
    async def create(
        self, job_id: str, total: int, source: str, owner: str, created_at: datetime, chunk_rows: int | None = None
    ) -> None:
        """The job's hash and its place in the index (whose members older than the retention go)."""
        key = self.keys.job(job_id)
        fields: dict[str, str | int] = {
            "total": total,
            "source": source,
            "owner": owner,
            "created_at": created_at.isoformat(),
        }
        if chunk_rows is not None:
            fields["chunk_rows"] = chunk_rows
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=cast(Any, fields))
            pipe.hsetnx(key, "done", 0)
            pipe.hsetnx(key, "failed", 0)
            pipe.expire(key, self.ttl_seconds)
            pipe.zadd(self.keys.jobs_index, {job_id: created_at.timestamp()})
            pipe.zremrangebyscore(self.keys.jobs_index, "-inf", f"({created_at.timestamp() - self.ttl_seconds}")
            pipe.expire(self.keys.jobs_index, self.ttl_seconds)
            await pipe.execute()

    @guarded
    async def get(self, job_id: str) -> StoredJob | None:
        fields: Any = await self.client.hgetall(self.keys.job(job_id))
        return StoredJob.of(job_id, fields)

    @guarded
    async def exists(self, job_id: str) -> bool:
        return bool(await self.client.exists(self.keys.job(job_id)))

    @guarded
    async def bytes_held(self, job_id: str) -> int:
        """Redis memory of the job's own keys (counters, per-row results or chunk answers, sent chunks)."""
        keys = (
            self.keys.job(job_id),
            self.keys.job_results(job_id),
            self.keys.job_chunks(job_id),
            self.keys.job_sent(job_id),
        )
        return sum([int(await self.client.memory_usage(k) or 0) for k in keys])

    @guarded
    async def recent(self, viewer: Viewer, limit: int = 20) -> list[StoredJob]:
        """The viewer's newest jobs, newest first; expired ones are left out."""
        ids: Any = await self.client.zrevrange(self.keys.jobs_index, 0, -1)
        found: list[StoredJob] = []
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]
            async with self.client.pipeline(transaction=False) as pipe:
                for job_id in chunk:
                    pipe.hgetall(self.keys.job(job_id))
                hashes: list[dict[str, Any]] = await pipe.execute()
            for job_id, fields in zip(chunk, hashes, strict=True):
                job = StoredJob.of(job_id, fields)
                if job is not None and viewer.sees(job.owner):
                    found.append(job)
                    if len(found) == limit:
                        return found
        return found

    @guarded
    async def results(self, job_id: str, rows: Sequence[int]) -> list[PredictionResult | None]:
        """The stored results of some rows (None: not answered yet)."""
        if not rows:
            return []
        raws = await self.client.hmget(self.keys.job_results(job_id), [str(i) for i in rows])
        return [None if raw is None else PredictionResult.model_validate_json(raw) for raw in raws]

    async def iter_results(
        self, job_id: str, total: int, chunk: int = ERASE_CHUNK
    ) -> AsyncIterator[list[tuple[int, PredictionResult | None]]]:
        """Rows in input order, ``chunk`` at a time."""
        for start in range(0, total, chunk):
            rows = list(range(start, min(start + chunk, total)))
            yield list(zip(rows, await self.results(job_id, rows), strict=True))

    @guarded
    async def erase(self, job_id: str, total: int, per_row_keys: bool = True) -> None:
        """Every row's record, meta, feedback and shadow answer, the job's hashes, index entry, idempotency
        binding and feed entries; its tombstone drops rows still on their way (in Kafka, or being uploaded).
        A bulk job (``per_row_keys`` False) has no key per row: its answers are in its chunks hash, its
        rows' sale prices in its feedback hash."""
        await self.client.set(self.keys.tombstone(job_id), now_ms(), ex=self.ttl_seconds)
        for start in range(0, total if per_row_keys else 0, ERASE_CHUNK):
            ids = [row_request_id(job_id, r) for r in range(start, min(start + ERASE_CHUNK, total))]
            await self.client.delete(
                *(
                    k
                    for rid in ids
                    for k in (
                        self.keys.prediction(rid),
                        self.keys.meta(rid),
                        self.keys.feedback(rid),
                        self.keys.shadow(rid),
                    )
                )
            )
        binding = await self.client.get(self.keys.idempotency_of(job_id))
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(
                self.keys.job(job_id),
                self.keys.job_results(job_id),
                self.keys.job_chunks(job_id),
                self.keys.job_feedback(job_id),
                self.keys.job_sent(job_id),
                self.keys.idempotency_of(job_id),
                *([str(binding)] if binding else []),
            )
            pipe.zrem(self.keys.jobs_index, job_id)
            await pipe.execute()
        await self.feed.forget(job_id=job_id)
