"""Prediction records: queue, save results (with their feed entry), read, and erase.

A result is written with one Lua script per request, so a redelivered message rewrites the
same record and a job's counters change only when a row's outcome changes: a row is counted
once, whatever the number of deliveries. The same script appends the result to the live feed
with its owner, trims the feed to the retention period, and drops results of requests erased
after they were submitted (their tombstone is newer than the request).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from schemas.messages import AnswerHead, PredictionRequest, PredictionResult, Timings
from state.clock import epoch_ms, now_ms
from state.errors import guarded
from state.feed import Feed
from state.keys import Keys

ERASED_SINCE = """
local function erased_since(request_tombstone, job_tombstone, submitted)
  for _, key in ipairs({request_tombstone, job_tombstone}) do
    local erased = redis.call('GET', key)
    if erased and submitted <= tonumber(erased) then return true end
  end
  return false
end
"""
"""Lua function: whether a request or its job was erased at or after it was submitted (ms)."""

# KEYS: record, job hash, job results hash, feed, meta, request tombstone, job tombstone
# ARGV: result json, status, ttl, row ("" when no job), feed maxlen, submitted ms, now ms, request id, job id
SAVE_RESULT = (
    ERASED_SINCE
    + """
if erased_since(KEYS[6], KEYS[7], tonumber(ARGV[6])) then return -1 end
local ttl = tonumber(ARGV[3])
local previous = redis.call('GET', KEYS[1])
local was_terminal = false
if previous then
  local old = cjson.decode(previous)['status']
  was_terminal = (old == 'done' or old == 'failed')
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
local owner
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
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
  owner = redis.call('HGET', KEYS[2], 'owner')
else
  owner = redis.call('HGET', KEYS[5], 'owner')
end
if not was_terminal then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*',
    'id', ARGV[8], 'job', ARGV[9], 'owner', owner or '', 'result', ARGV[1])
  redis.call('XTRIM', KEYS[4], 'MINID', tostring(tonumber(ARGV[7]) - ttl * 1000))
  redis.call('EXPIRE', KEYS[4], ttl)
end
return was_terminal and 0 or 1
"""
)

# KEYS: record, request tombstone, job tombstone; ARGV: queued json, ttl, submitted ms
QUEUE = (
    ERASED_SINCE
    + """
if erased_since(KEYS[2], KEYS[3], tonumber(ARGV[3])) then return 0 end
return redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') and 1 or 0
"""
)


SEGMENT_FIELDS = ("neighborhood", "year_built", "year_sold", "sale_condition")


def segment_fields(request: PredictionRequest) -> dict[str, str]:
    """What feedback on the request needs later to place it in the ratio study's segments."""
    features = request.features
    found = {name: getattr(features, name, None) for name in SEGMENT_FIELDS}
    return {name: str(value) for name, value in found.items() if value is not None}


class PartOfJobError(Exception):
    """A job's row is erased with its job, never alone (its counters and download would lie)."""


def queued_record(request: PredictionRequest) -> PredictionResult:
    return PredictionResult(
        request_id=request.request_id,
        job_id=request.job_id,
        row=request.row,
        source=request.source,
        status="queued",
        timings=Timings(submitted_at=request.submitted_at),
    )


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class Predictions:
    def __init__(self, client: Redis, keys: Keys, ttl_seconds: int, feed: Feed, feed_maxlen: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self.feed = feed
        self.feed_maxlen = feed_maxlen
        self._save = client.register_script(SAVE_RESULT)
        self._queue = client.register_script(QUEUE)

    def _tombstones(self, request_id: str, job_id: str | None) -> list[str]:
        return [self.keys.tombstone(request_id), self.keys.tombstone(job_id or request_id)]

    async def _queue_in(self, pipe: Pipeline, requests: Iterable[PredictionRequest]) -> None:
        for request in requests:
            await self._queue(
                keys=[self.keys.prediction(request.request_id), *self._tombstones(request.request_id, request.job_id)],
                args=[queued_record(request).model_dump_json(), self.ttl_seconds, epoch_ms(request.submitted_at)],
                client=pipe,
            )

    @guarded
    async def accept(self, requests: Sequence[PredictionRequest], owner: str | None, *, queued: bool = False) -> None:
        """Meta of requests about to be published: the owner (single requests; a job's rows take the
        job's) and the segment fields (for feedback); with ``queued``, their queued records too."""
        async with self.client.pipeline(transaction=False) as pipe:
            for request in requests:
                key = self.keys.meta(request.request_id)
                pipe.hset(key, mapping=cast(Any, segment_fields(request)))  # one command per request
                if owner is not None:
                    pipe.hset(key, "owner", owner)
                pipe.expire(key, self.ttl_seconds)
            if queued:
                await self._queue_in(pipe, requests)
            await pipe.execute()

    @guarded
    async def mark_queued(self, requests: Sequence[PredictionRequest]) -> None:
        """Record requests as queued unless a worker already answered them or they were erased since."""
        async with self.client.pipeline(transaction=False) as pipe:
            await self._queue_in(pipe, requests)
            await pipe.execute()

    @guarded
    async def save_results(self, results: Iterable[PredictionResult]) -> int:
        """Write final results in one pipeline; returns how many were new (not redeliveries, not erased)."""
        now = now_ms()
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
                        self.keys.meta(result.request_id),
                        *self._tombstones(result.request_id, result.job_id),
                    ],
                    args=[
                        result.model_dump_json(),
                        result.status,
                        self.ttl_seconds,
                        "" if result.job_id is None or result.row is None else str(result.row),
                        self.feed_maxlen,
                        epoch_ms(result.timings.submitted_at),
                        now,
                        result.request_id,
                        job,
                    ],
                    client=pipe,
                )
                count += 1
            if count == 0:
                return 0
            replies = await pipe.execute()
        return sum(max(0, int(reply)) for reply in replies)

    @guarded
    async def get(self, request_id: str) -> PredictionResult | None:
        raw = await self.client.get(self.keys.prediction(request_id))
        return None if raw is None else PredictionResult.model_validate_json(raw)

    @guarded
    async def get_many(self, request_ids: Sequence[str]) -> list[PredictionResult | None]:
        raws = await self._raw(request_ids)
        return [None if raw is None else PredictionResult.model_validate_json(raw) for raw in raws]

    @guarded
    async def heads(self, request_ids: Sequence[str]) -> list[AnswerHead | None]:
        """Each request's status, price and model, without reading the rest of its record into objects."""
        raws = await self._raw(request_ids)
        return [None if raw is None else AnswerHead.model_validate_json(raw) for raw in raws]

    async def _raw(self, request_ids: Sequence[str]) -> list[bytes | str | None]:
        if not request_ids:
            return []
        return await self.client.mget([self.keys.prediction(rid) for rid in request_ids])

    @guarded
    async def owner(self, request_id: str, result: PredictionResult | None) -> str | None:
        """The key that created a request: its job's owner for a job row, else its own."""
        if result is not None and result.job_id is not None:
            return _text(await self.client.hget(self.keys.job(result.job_id), "owner"))
        return _text(await self.client.hget(self.keys.meta(request_id), "owner"))

    @guarded
    async def segment(self, request_id: str) -> dict[str, str]:
        """The segment fields kept for a request accepted by the API (empty for one sent straight to Kafka)."""
        fields: Any = await self.client.hgetall(self.keys.meta(request_id))
        return {str(k): str(v) for k, v in fields.items() if k in SEGMENT_FIELDS}

    @guarded
    async def erase(self, request_id: str) -> None:
        """Everything about one request: record, meta, feedback, shadow answer, idempotency binding, feed entries; its
        tombstone drops a result still on its way (a worker scoring it after this call)."""
        result = await self.get(request_id)
        if result is not None and result.job_id is not None:
            raise PartOfJobError(f"{request_id} is row {result.row} of job {result.job_id}: erase the job")
        binding = await self.client.get(self.keys.idempotency_of(request_id))
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.tombstone(request_id), now_ms(), ex=self.ttl_seconds)
            pipe.delete(
                self.keys.prediction(request_id),
                self.keys.meta(request_id),
                self.keys.feedback(request_id),
                self.keys.shadow(request_id),
                self.keys.idempotency_of(request_id),
                *([str(binding)] if binding else []),
            )
            await pipe.execute()
        await self.feed.forget(request_id=request_id)
