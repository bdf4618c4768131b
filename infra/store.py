"""Prediction records in Redis: the one place that reads and writes them.

A result is written with one Lua script per request, so a redelivered message rewrites the
same record and a job's counters change only when a row's outcome changes: a row is counted
once, whatever the number of deliveries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from schemas.keys import RedisKeys
from schemas.messages import PredictionRequest, PredictionResult, Timings

# KEYS: record, job hash, job results hash, feed stream
# ARGV: result json, status, ttl, row ("" when no job), feed maxlen
_SAVE_RESULT = """
local previous = redis.call('GET', KEYS[1])
local was_terminal = false
if previous then
  local old = cjson.decode(previous)['status']
  was_terminal = (old == 'done' or old == 'failed')
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
if ARGV[4] ~= '' then
  local before = redis.call('HGET', KEYS[3], ARGV[4])
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[1])
  if before then
    local old_status = cjson.decode(before)['status']
    if old_status ~= ARGV[2] then
      redis.call('HINCRBY', KEYS[2], old_status, -1)
      redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
    end
  else
    redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  end
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
if not was_terminal then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'result', ARGV[1])
end
return was_terminal and 0 or 1
"""


def queued_record(request: PredictionRequest) -> PredictionResult:
    return PredictionResult(
        request_id=request.request_id,
        job_id=request.job_id,
        row=request.row,
        source=request.source,
        status="queued",
        timings=Timings(submitted_at=request.submitted_at),
    )


class ResultStore:
    def __init__(self, client: Redis, keys: RedisKeys, ttl_seconds: int, feed_maxlen: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self.feed_maxlen = feed_maxlen
        self._save = client.register_script(_SAVE_RESULT)

    async def mark_queued(self, requests: Sequence[PredictionRequest]) -> None:
        """Record requests as queued unless a worker already answered them (SET NX)."""
        async with self.client.pipeline(transaction=False) as pipe:
            self.queue_in(pipe, requests)
            await pipe.execute()

    def queue_in(self, pipe: Pipeline, requests: Iterable[PredictionRequest]) -> None:
        """``mark_queued``'s commands, added to a caller's pipeline (one round trip with its own)."""
        for request in requests:
            pipe.set(
                self.keys.prediction(request.request_id),
                queued_record(request).model_dump_json(),
                ex=self.ttl_seconds,
                nx=True,
            )

    async def save_results(self, results: Iterable[PredictionResult]) -> int:
        """Write final results in one pipeline; returns how many were new (not redeliveries)."""
        async with self.client.pipeline(transaction=False) as pipe:
            count = 0
            for result in results:
                job = result.job_id or ""
                await self._save(
                    keys=[
                        self.keys.prediction(result.request_id),
                        self.keys.job(job),
                        self.keys.job_results(job),
                        self.keys.feed,
                    ],
                    args=[
                        result.model_dump_json(),
                        result.status,
                        self.ttl_seconds,
                        "" if result.job_id is None or result.row is None else str(result.row),
                        self.feed_maxlen,
                    ],
                    client=pipe,
                )
                count += 1
            if count == 0:
                return 0
            replies = await pipe.execute()
        return sum(int(reply) for reply in replies)

    async def get(self, request_id: str) -> PredictionResult | None:
        raw = await self.client.get(self.keys.prediction(request_id))
        return None if raw is None else PredictionResult.model_validate_json(raw)

    async def get_many(self, request_ids: Sequence[str]) -> list[PredictionResult | None]:
        if not request_ids:
            return []
        raws = await self.client.mget([self.keys.prediction(rid) for rid in request_ids])
        return [None if raw is None else PredictionResult.model_validate_json(raw) for raw in raws]

    async def create_job(self, job_id: str, total: int, source: str, created_at: datetime) -> None:
        key = self.keys.job(job_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"total": total, "source": source, "created_at": created_at.isoformat()})
            pipe.hsetnx(key, "done", 0)
            pipe.hsetnx(key, "failed", 0)
            pipe.expire(key, self.ttl_seconds)
            pipe.zadd(self.keys.jobs_index, {job_id: created_at.timestamp()})
            await pipe.execute()

    async def job_counters(self, job_id: str) -> dict[str, str]:
        raw = await self.client.hgetall(self.keys.job(job_id))
        return {str(k): str(v) for k, v in raw.items()}
