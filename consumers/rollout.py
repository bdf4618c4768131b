"""The challenger's work after a batch's answers are stored: shadow scoring and the per-variant figures.

A batch's tail hands it over once the results are in Redis and on the results topic, and does not
wait for it: a background task works through up to ``BACKLOG`` batches in turn, and a batch that
finds the backlog full is not shadowed (counted as ``shadow_skipped``), so the shadow never holds
up answers or commits. It never fails a batch: a challenger or Redis error here is logged and
counted, and the champion's answers stand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from consumers.metrics import PIPELINE_EVENTS
from consumers.variants import Routed, VariantRouter
from schemas import PredictionRequest
from state.rollout import Rollout, Shadowed

log = structlog.get_logger(__name__)
BACKLOG = 8

Work = tuple[Sequence[PredictionRequest], Routed]


class RolloutRecorder:
    def __init__(self, router: VariantRouter, store: Rollout | None) -> None:
        self.router = router
        self.store = store
        self._queue: asyncio.Queue[Work] = asyncio.Queue(BACKLOG)
        self._task: asyncio.Task[None] | None = None

    async def after(self, requests: Sequence[PredictionRequest], routed: Routed) -> None:
        """Queue the batch for shadow scoring and its figures (never waits, never raises)."""
        if self.store is None or routed.frame is None:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        try:
            self._queue.put_nowait((requests, routed))
        except asyncio.QueueFull:
            PIPELINE_EVENTS.labels("shadow_skipped").inc()

    async def _drain(self) -> None:
        while True:
            requests, routed = await self._queue.get()
            try:
                await self._record(requests, routed)
            except Exception as exc:
                PIPELINE_EVENTS.labels("rollout_failed").inc()
                log.warning("rollout_record_failed", error=repr(exc)[:300])

    async def _record(self, requests: Sequence[PredictionRequest], routed: Routed) -> None:
        assert self.store is not None
        assert routed.frame is not None
        shadowed = await asyncio.to_thread(self.router.shadow, requests, routed.frame, routed.results)
        latencies = dict(routed.latencies_ms)
        differences = None
        if shadowed is not None:
            by_id = {r.request_id: r for r in requests}
            await self.store.save_shadows(
                [
                    Shadowed(rid, by_id[rid].job_id, by_id[rid].submitted_at, answer)
                    for rid, answer in zip(shadowed.request_ids, shadowed.answers, strict=True)
                ]
            )
            challenger = shadowed.answers[0].model.version
            latencies[challenger] = shadowed.latency_ms
            differences = (shadowed.champion_version, challenger, shadowed.differences)
        if latencies or differences:
            await self.store.record_batch(latencies, differences)
