"""Observed sale prices: one per request, and rolling windows per neighbourhood and model version.

Each segment keeps its newest ``WINDOW`` observations in a capped list, so every API replica
computes the same figures; each model version keeps its newest ``WINDOW`` valuations with their
sale prices for the live ratio study. These hold no request id (erasing a request leaves its
share of these figures), and all of them expire after the retention period without feedback.
"""

from __future__ import annotations

from redis.asyncio import Redis

from schemas.feedback import AccuracyFigures, Observed, window_entry
from schemas.ratio_study import SaleObservation
from state.errors import guarded
from state.keys import Keys

WINDOW = 1_000


class Feedback:
    def __init__(self, client: Redis, keys: Keys, ttl_seconds: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_seconds = ttl_seconds

    @guarded
    async def claim(self, request_id: str, sale_price: float) -> bool:
        """Store the sale price of a request; False if it already had one."""
        return bool(
            await self.client.set(self.keys.feedback(request_id), f"{sale_price}", nx=True, ex=self.ttl_seconds)
        )

    @guarded
    async def claim_row(self, job_id: str, row: int, sale_price: float) -> bool:
        """Store the sale price of a bulk job's row (one hash per job, no key per row); False if it had one."""
        key = self.keys.job_feedback(job_id)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, str(row), f"{sale_price}")
            pipe.expire(key, self.ttl_seconds)
            new, _ = await pipe.execute()
        return bool(new)

    @guarded
    async def record(self, neighborhood: str, version: str, observed: Observed) -> AccuracyFigures:
        window_key = self.keys.feedback_window(neighborhood, version)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(window_key, window_entry(observed))
            pipe.ltrim(window_key, 0, WINDOW - 1)
            pipe.expire(window_key, self.ttl_seconds)
            pipe.hincrby(self.keys.feedback_totals, f"{neighborhood}|{version}", 1)
            pipe.expire(self.keys.feedback_totals, self.ttl_seconds)
            pipe.lrange(window_key, 0, -1)
            results = await pipe.execute()
        total, window = results[3], results[5]
        return AccuracyFigures.from_window(neighborhood, version, [str(w) for w in window], int(total))

    @guarded
    async def observe(self, observation: SaleObservation) -> None:
        """Keep a valuation and its sale price for the live ratio study (the newest ``WINDOW`` per version)."""
        key = self.keys.feedback_observations(observation.model_version)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(key, observation.model_dump_json())
            pipe.ltrim(key, 0, WINDOW - 1)
            pipe.expire(key, self.ttl_seconds)
            await pipe.execute()

    @guarded
    async def observations(self, model_version: str) -> list[SaleObservation]:
        raws = await self.client.lrange(self.keys.feedback_observations(model_version), 0, -1)
        return [SaleObservation.model_validate_json(raw) for raw in raws]

    @guarded
    async def figures(self) -> list[AccuracyFigures]:
        """Every segment's figures, most feedback first."""
        totals = {str(k): int(v) for k, v in (await self.client.hgetall(self.keys.feedback_totals)).items()}
        segments = sorted(totals)
        async with self.client.pipeline(transaction=False) as pipe:
            for segment in segments:
                pipe.lrange(self.keys.feedback_window(*segment.split("|", 1)), 0, -1)
            windows = await pipe.execute()
        out = []
        for segment, window in zip(segments, windows, strict=True):
            neighborhood, version = segment.split("|", 1)
            out.append(AccuracyFigures.from_window(neighborhood, version, [str(w) for w in window], totals[segment]))
        return sorted(out, key=lambda f: f.total, reverse=True)
