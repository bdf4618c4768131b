"""Who owns what, and erasure: the small records the API keeps beside the results.

A request accepted by ``POST /predict`` gets a meta hash (``owner``, ``neighborhood``); a job
keeps its ``owner`` in its own hash and its rows inherit it. A record without an owner (sent
straight to Kafka) is visible only while API keys are off.
"""

from __future__ import annotations

from collections.abc import Sequence

from infra.store import ResultStore
from schemas import PredictionRequest, PredictionResult
from schemas.jobs import row_request_id
from schemas.rest_keys import RestKeys

ERASE_CHUNK = 1_000


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class Records:
    def __init__(self, store: ResultStore, keys: RestKeys, keys_enabled: bool) -> None:
        self.store = store
        self.client = store.client
        self.keys = keys
        self.keys_enabled = keys_enabled

    def visible(self, stored_owner: str | None, owner: str) -> bool:
        return stored_owner == owner or (stored_owner is None and not self.keys_enabled)

    async def remember(self, requests: Sequence[PredictionRequest], owner: str | None, *, queued: bool = False) -> None:
        """Meta of accepted requests: the owner (single requests) and the neighbourhood (for feedback);
        with ``queued``, their queued records too, in the same round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            for request in requests:
                key = self.keys.meta(request.request_id)
                pipe.hset(key, "neighborhood", request.features.neighborhood)
                if owner is not None:
                    pipe.hset(key, "owner", owner)
                pipe.expire(key, self.store.ttl_seconds)
            if queued:
                self.store.queue_in(pipe, requests)
            await pipe.execute()

    async def request_owner(self, request_id: str, result: PredictionResult | None) -> str | None:
        if result is not None and result.job_id is not None:
            return await self.job_owner(result.job_id)
        return _text(await self.client.hget(self.keys.meta(request_id), "owner"))

    async def job_owner(self, job_id: str) -> str | None:
        return _text(await self.client.hget(self.store.keys.job(job_id), "owner"))

    async def neighborhood(self, request_id: str) -> str | None:
        return _text(await self.client.hget(self.keys.meta(request_id), "neighborhood"))

    async def erase_request(self, request_id: str) -> None:
        await self.client.delete(
            self.store.keys.prediction(request_id), self.keys.meta(request_id), self.keys.feedback(request_id)
        )

    async def erase_job(self, job_id: str, total: int) -> None:
        """Every row's record and meta, the job's hashes and its place in the index."""
        for start in range(0, total, ERASE_CHUNK):
            ids: Sequence[str] = [row_request_id(job_id, r) for r in range(start, min(start + ERASE_CHUNK, total))]
            await self.client.delete(
                *(
                    k
                    for rid in ids
                    for k in (self.store.keys.prediction(rid), self.keys.meta(rid), self.keys.feedback(rid))
                )
            )
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(self.store.keys.job(job_id), self.store.keys.job_results(job_id))
            pipe.zrem(self.store.keys.jobs_index, job_id)
            await pipe.execute()
