"""Retry transient faults (Redis or Kafka briefly away) with backoff, forever, logging each wait.

A worker that cannot write does not commit: it waits here instead of crash-looping, and the
batch's offsets stay uncommitted until the write succeeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from consumers.metrics import RETRIES
from state import StoreUnavailableError

log = structlog.get_logger(__name__)
T = TypeVar("T")

TRANSIENT = (StoreUnavailableError, KafkaError, OSError, asyncio.TimeoutError)


async def with_retry(operation: str, call: Callable[[], Awaitable[T]], max_wait: float = 5.0) -> T:
    def _log(state: RetryCallState) -> None:
        RETRIES.labels(operation).inc()
        error = state.outcome.exception() if state.outcome else None
        log.warning("transient_fault", operation=operation, attempt=state.attempt_number, error=repr(error))

    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT),
        wait=wait_exponential_jitter(initial=0.1, max=max_wait),
        before_sleep=_log,
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")
