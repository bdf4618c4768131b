"""Waits for results without polling: one reader per API process follows the Redis feed
(XREAD BLOCK) and wakes the requests waiting for the ids it sees.

A waiter registers before it checks Redis, so a result that lands in between is not missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from redis.exceptions import RedisError

from infra.store import ResultStore
from schemas import PredictionResult

log = structlog.get_logger(__name__)
BLOCK_MS = 1_000


class ResultWaiter:
    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self._waiting: dict[str, list[asyncio.Future[PredictionResult]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def wait(self, request_id: str, seconds: float) -> PredictionResult | None:
        """The request's state after at most ``seconds``: final if it landed in time."""
        current = await self.store.get(request_id)
        if current is None or current.status != "queued" or seconds <= 0:
            return current
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._follow())
        future: asyncio.Future[PredictionResult] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(request_id, []).append(future)
        try:
            current = await self.store.get(request_id)  # it may have landed before we registered
            if current is not None and current.status != "queued":
                return current
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(future, seconds)
            return await self.store.get(request_id)
        finally:
            futures = self._waiting.get(request_id, [])
            if future in futures:
                futures.remove(future)
            if not futures:
                self._waiting.pop(request_id, None)

    async def _follow(self) -> None:
        cursor = "$"
        while True:
            try:
                reply: Any = await self.store.client.xread({self.store.keys.feed: cursor}, count=1000, block=BLOCK_MS)
            except RedisError as exc:
                log.warning("feed_read_failed", error=type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    cursor = str(entry_id)
                    self._wake(fields.get("result"))

    def _wake(self, raw: str | None) -> None:
        if not raw or not self._waiting:
            return
        data = json.loads(raw)
        futures = self._waiting.get(data.get("request_id"))
        if not futures:
            return
        result = PredictionResult.model_validate(data)
        for future in futures:
            if not future.done():
                future.set_result(result)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
