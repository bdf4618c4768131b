"""Waits for results without polling: one reader per API process follows the Redis feed
(XREAD BLOCK) and wakes the requests waiting for the ids it sees.

The reader starts from the feed's last entry id (not ``$``), so once ``ready()`` has returned
every result added later is seen. A new request registers (``expect``) before it is published
and needs no Redis read at all; an id that may already be answered is read after registering,
so a result that lands in between is not missed either. Waiters get the result's JSON exactly
as the worker stored it, which the API can send back without parsing it.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from schemas import PredictionResult
from state import StoreUnavailableError
from state.feed import Feed
from state.predictions import Predictions

log = structlog.get_logger(__name__)
BLOCK_MS = 1_000
READY_SECONDS = 2.0


class ResultWaiter:
    def __init__(self, feed: Feed, predictions: Predictions) -> None:
        self.feed = feed
        self.predictions = predictions
        self._waiting: dict[str, list[asyncio.Future[str]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._following = asyncio.Event()

    async def ready(self) -> bool:
        """Start the reader if needed; True once it follows the feed from a fixed position."""
        if self._reader is None or self._reader.done():
            self._following.clear()
            self._reader = asyncio.create_task(self._follow())
        if not self._following.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._following.wait(), READY_SECONDS)
        return self._following.is_set()

    def expect(self, request_id: str) -> asyncio.Future[str]:
        """Register for the result of ``request_id``; pair with ``forget``."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(request_id, []).append(future)
        return future

    def forget(self, request_id: str, future: asyncio.Future[str]) -> None:
        futures = self._waiting.get(request_id, [])
        if future in futures:
            futures.remove(future)
        if not futures:
            self._waiting.pop(request_id, None)

    @staticmethod
    async def settle(future: asyncio.Future[str], seconds: float) -> str | None:
        """The result's JSON if it lands within ``seconds``, else None."""
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(future, seconds)
        return None

    async def wait(self, request_id: str, seconds: float) -> PredictionResult | None:
        """The state of a request that may exist already, after at most ``seconds``."""
        current = await self.predictions.get(request_id)
        if current is None or current.status != "queued" or seconds <= 0 or not await self.ready():
            return current
        future = self.expect(request_id)
        try:
            current = await self.predictions.get(request_id)  # it may have landed before we registered
            if current is not None and current.status != "queued":
                return current
            raw = await self.settle(future, seconds)
            return PredictionResult.model_validate_json(raw) if raw else await self.predictions.get(request_id)
        finally:
            self.forget(request_id, future)

    async def _follow(self) -> None:
        cursor: str | None = None
        while True:
            try:
                if cursor is None:
                    cursor = await self.feed.end()
                    self._following.set()
                cursor, entries = await self.feed.read_after(cursor, count=1000, block_ms=BLOCK_MS)
            except StoreUnavailableError as exc:
                log.warning("feed_read_failed", error=str(exc))
                await asyncio.sleep(0.5)
                continue
            for entry in entries:
                self._wake(entry.request_id, entry.result)

    def _wake(self, request_id: str, raw: str) -> None:
        for future in self._waiting.get(request_id, ()):
            if not future.done():
                future.set_result(raw)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
