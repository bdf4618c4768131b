"""The worker's part of the rollout figures: each version's model time per batch while a challenger runs.

A batch's tail hands its model times over once the results are in Redis and on the results topic,
and does not wait: a background task records up to ``BACKLOG`` batches in turn, and a batch that
finds the backlog full is not recorded (counted as ``rollout_skipped``). It never fails a batch: a
Redis error here is logged and counted, and the answers stand.

The challenger's shadow answers and the price differences are not the worker's: the shadow scorer
(``consumers.shadow``) computes them in a process of its own, off the answering workers' CPU.
"""

from __future__ import annotations

import asyncio

import structlog

from consumers.metrics import PIPELINE_EVENTS
from consumers.variants import Routed
from state.rollout import Rollout

log = structlog.get_logger(__name__)
BACKLOG = 8


class RolloutRecorder:
    def __init__(self, store: Rollout | None) -> None:
        self.store = store
        self._queue: asyncio.Queue[dict[str, float]] = asyncio.Queue(BACKLOG)
        self._task: asyncio.Task[None] | None = None

    async def after(self, routed: Routed) -> None:
        """Queue the batch's model time per version (never waits, never raises)."""
        if self.store is None or not routed.latencies_ms:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        try:
            self._queue.put_nowait(dict(routed.latencies_ms))
        except asyncio.QueueFull:
            PIPELINE_EVENTS.labels("rollout_skipped").inc()

    async def _drain(self) -> None:
        assert self.store is not None
        while True:
            latencies = await self._queue.get()
            try:
                await self.store.record_batch(latencies)
            except Exception as exc:
                PIPELINE_EVENTS.labels("rollout_failed").inc()
                log.warning("rollout_record_failed", error=repr(exc)[:300])
