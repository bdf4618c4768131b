"""The one error the state package raises when Redis cannot answer, and the wrapper that raises it.

Callers never see a Redis exception: a store that is away, busy loading, read-only or out of
memory is ``StoreUnavailableError`` (the API answers 503 with ``Retry-After``, workers wait and
retry, the dashboard says so in plain words). Any other Redis error is a bug and propagates.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OutOfMemoryError, OSError)
RETRY_AFTER_SECONDS = 5
F = TypeVar("F", bound=Callable[..., Any])


class StoreUnavailableError(Exception):
    """Redis did not answer; nothing was read or written by the failed call."""

    retry_after_seconds = RETRY_AFTER_SECONDS


def unavailable(exc: BaseException) -> StoreUnavailableError:
    return StoreUnavailableError(f"the result store is not reachable ({type(exc).__name__})")


def guarded(function: F) -> F:
    """Turn Redis being away into ``StoreUnavailableError``, for coroutines and async generators alike."""
    if inspect.isasyncgenfunction(function):

        @functools.wraps(function)
        async def generate(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            try:
                async for item in function(*args, **kwargs):
                    yield item
            except UNAVAILABLE as exc:
                raise unavailable(exc) from exc

        return cast(F, generate)

    @functools.wraps(function)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await function(*args, **kwargs)
        except UNAVAILABLE as exc:
            raise unavailable(exc) from exc

    return cast(F, call)
