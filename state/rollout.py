"""The challenger's side of the rollout: shadow answers by request, and the per-version figures.

A shadow answer lives under the request's id (``Keys.shadow``) with the results' retention, is
written only if the request was not erased meanwhile (its tombstone is older than the request),
and is erased with the request or its job. The figures hold no request id: per version, the
newest model times of its batches and the newest errors of its valuations against sale prices;
per pair of versions, the newest price differences on the same requests and the newest errors of both
against the sale prices of the same requests (the promotion guard's figures). All of them are capped
lists that expire after the retention period without news.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from schemas.feedback import AccuracyFigures, Observed, window_entry
from schemas.rollout import Latency, LiveAccuracy, PairedAccuracy, PriceDifferences, ShadowAnswer
from state.clock import epoch_ms
from state.errors import guarded
from state.keys import Keys
from state.predictions import ERASED_SINCE

WINDOW = 1_000
DIFFERENCES_WINDOW = 5_000
OVER = 10.0
"""A price difference above this (percent) counts in ``share_over_10pct``."""

# KEYS: per shadow, its record, request tombstone and job tombstone;
# ARGV: ttl, then per shadow, its answer json and submitted ms
SAVE_SHADOWS = (
    ERASED_SINCE
    + """
local stored = 0
for i = 0, #KEYS / 3 - 1 do
  if not erased_since(KEYS[3 * i + 2], KEYS[3 * i + 3], tonumber(ARGV[2 * i + 3])) then
    redis.call('SET', KEYS[3 * i + 1], ARGV[2 * i + 2], 'EX', ARGV[1])
    stored = stored + 1
  end
end
return stored
"""
)
SAVE_CHUNK = 64
"""Shadow answers per script call: one call for many saves most of the client's work per answer, and a
chunk this size holds Redis, which the answer path shares, for a fraction of a millisecond."""


@dataclass(frozen=True)
class Shadowed:
    """One shadow answer to store, with what decides whether its request was erased meanwhile."""

    request_id: str
    job_id: str | None
    submitted_at: datetime
    answer: ShadowAnswer


def _pair(champion: str, challenger: str) -> str:
    """A pair of versions' field in ``Keys.paired_feedback_totals``."""
    return f"{champion}:{challenger}"


def _live(version: str, window: Sequence[str], total: int) -> LiveAccuracy:
    figures = AccuracyFigures.from_window("all", version, list(window), total)
    empty = figures.count == 0
    return LiveAccuracy(
        version=version,
        sales=figures.count,
        total=figures.total,
        median_abs_pct_error=None if empty else figures.mape,
        within_10pct=None if empty else figures.within_10pct,
        interval_coverage=None if empty else figures.interval_coverage,
    )


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Rollout:
    def __init__(self, client: Redis, keys: Keys, ttl_seconds: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self._save = client.register_script(SAVE_SHADOWS)

    @guarded
    async def save_shadows(self, shadows: Sequence[Shadowed]) -> int:
        """Store the challenger's answers; returns how many were stored (an erased request's is not)."""
        if not shadows:
            return 0
        async with self.client.pipeline(transaction=False) as pipe:
            for start in range(0, len(shadows), SAVE_CHUNK):
                keys: list[str] = []
                args: list[str | int] = [self.ttl_seconds]
                for item in shadows[start : start + SAVE_CHUNK]:
                    keys += [
                        self.keys.shadow(item.request_id),
                        self.keys.tombstone(item.request_id),
                        self.keys.tombstone(item.job_id or item.request_id),
                    ]
                    args += [item.answer.model_dump_json(), epoch_ms(item.submitted_at)]
                await self._save(keys=keys, args=args, client=pipe)
            replies = await pipe.execute()
        return sum(int(reply) for reply in replies)

    @guarded
    async def shadow(self, request_id: str) -> ShadowAnswer | None:
        raw = await self.client.get(self.keys.shadow(request_id))
        return None if raw is None else ShadowAnswer.model_validate_json(raw)

    @guarded
    async def record_batch(
        self, latencies: dict[str, float], differences: tuple[str, str, Sequence[float]] | None = None
    ) -> None:
        """A batch's model time per version (ms), and the challenger's % price differences from the champion's."""
        async with self.client.pipeline(transaction=False) as pipe:
            for version, millis in latencies.items():
                self._push(pipe, self.keys.latency(version), [f"{millis:.3f}"], WINDOW)
            if differences is not None and differences[2]:
                champion, challenger, diffs = differences
                key = self.keys.price_differences(champion, challenger)
                self._push(pipe, key, [f"{d:.4f}" for d in diffs], DIFFERENCES_WINDOW)
            await pipe.execute()

    def _push(self, pipe: Pipeline, key: str, values: list[str], cap: int) -> None:
        pipe.lpush(key, *values)
        pipe.ltrim(key, 0, cap - 1)
        pipe.expire(key, self.ttl_seconds)

    @guarded
    async def observe_sale(self, version: str, observed: Observed) -> None:
        """One sale fed back for a version's valuation (answered or shadow). Its figures are read on a scrape
        (``api.rollout.export_rollout``) and by ``GET /model``, not after each sale."""
        async with self.client.pipeline(transaction=True) as pipe:
            self._push(pipe, self.keys.version_feedback(version), [window_entry(observed)], WINDOW)
            pipe.hincrby(self.keys.version_feedback_totals, version, 1)
            pipe.expire(self.keys.version_feedback_totals, self.ttl_seconds)
            await pipe.execute()

    @guarded
    async def accuracy(self, version: str) -> LiveAccuracy:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.lrange(self.keys.version_feedback(version), 0, -1)
            pipe.hget(self.keys.version_feedback_totals, version)
            window, total = await pipe.execute()
        return _live(version, [str(w) for w in window], int(total or 0))

    @guarded
    async def observe_pair(
        self, versions: tuple[str, str], champion_observed: Observed, challenger_observed: Observed
    ) -> None:
        """One sale fed back for a request both versions (champion, challenger) valued."""
        async with self.client.pipeline(transaction=True) as pipe:
            entry = f"{window_entry(champion_observed)};{window_entry(challenger_observed)}"
            self._push(pipe, self.keys.paired_feedback(*versions), [entry], WINDOW)
            pipe.hincrby(self.keys.paired_feedback_totals, _pair(*versions), 1)
            pipe.expire(self.keys.paired_feedback_totals, self.ttl_seconds)
            await pipe.execute()

    @guarded
    async def paired(self, champion: str, challenger: str) -> PairedAccuracy:
        """Both versions' figures on the same sales: the newest ``WINDOW`` fed back for requests both valued."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.lrange(self.keys.paired_feedback(champion, challenger), 0, -1)
            pipe.hget(self.keys.paired_feedback_totals, _pair(champion, challenger))
            window, total = await pipe.execute()
        sides = [str(entry).split(";") for entry in window]
        count = int(total or 0)
        return PairedAccuracy(
            champion=_live(champion, [ours for ours, _ in sides], count),
            challenger=_live(challenger, [theirs for _, theirs in sides], count),
        )

    @guarded
    async def latency(self, version: str) -> Latency:
        values = [float(v) for v in await self.client.lrange(self.keys.latency(version), 0, -1)]
        if not values:
            return Latency(batches=0)
        return Latency(batches=len(values), p50_ms=statistics.median(values), p95_ms=_percentile(values, 0.95))

    @guarded
    async def differences(self, champion: str, challenger: str) -> PriceDifferences:
        raws = await self.client.lrange(self.keys.price_differences(champion, challenger), 0, -1)
        diffs = [abs(float(v)) for v in raws]
        return PriceDifferences(
            champion_version=champion,
            challenger_version=challenger,
            requests=len(diffs),
            median_abs_pct_diff=statistics.median(diffs) if diffs else None,
            share_over_10pct=sum(d > OVER for d in diffs) / len(diffs) if diffs else None,
        )
