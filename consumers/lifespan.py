"""The start and stop both scoring processes share: the worker's and the shadow scorer's.

Start: wait for a champion, load a challenger if one is registered, serve metrics, start the
background tasks and log one ready event. Stop: cancel the tasks and close the Redis connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import structlog
from prometheus_client import start_http_server

from consumers.model import ModelHolder
from registry.errors import NoVersionError
from state import State

log = structlog.get_logger(__name__)
LAG_SECONDS = 5.0


async def wait_for_champion(models: ModelHolder, poll: float) -> None:
    while True:
        try:
            await asyncio.to_thread(models.refresh)
            return
        except NoVersionError as exc:
            log.warning("waiting_for_champion", error=str(exc))
            await asyncio.sleep(poll)


async def every(seconds: float, name: str, call: Callable[[], Awaitable[object]]) -> None:
    """Run ``call`` periodically until cancelled; a failing round is logged, never fatal."""
    while True:
        try:
            await call()
        except Exception as exc:
            log.warning("periodic_task_failed", task=name, error=repr(exc))
        await asyncio.sleep(seconds)


def scoring_lifespan(
    models: ModelHolder,
    challenger: ModelHolder,
    store: State,
    *,
    poll_seconds: float,
    metrics_port: int,
    background: Callable[[], list[Coroutine[Any, Any, None]]],
    ready_event: str,
    ready_fields: dict[str, object],
    before_ready: Callable[[], dict[str, object]] = dict,
) -> Callable[[], contextlib.AbstractAsyncContextManager[None]]:
    """A FastStream lifespan; ``background`` builds the process's own periodic tasks, besides both holders'
    alias watches. ``before_ready`` runs once the models are loaded; the fields it returns join the ready event."""

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await wait_for_champion(models, min(poll_seconds, 5.0))
        try:  # optional: none, or a broken one, is no challenger; the poll tries again
            await asyncio.to_thread(challenger.refresh)
        except Exception as exc:
            log.warning("challenger_not_loaded", error=repr(exc)[:300])
        if metrics_port:
            start_http_server(metrics_port, addr="0.0.0.0")
        tasks = [asyncio.create_task(c) for c in [models.watch(), challenger.watch(), *background()]]
        log.info(
            ready_event,
            **before_ready(),
            metrics_port=metrics_port,
            model_version=models.current.ref.version,
            challenger_version=None if challenger.serving is None else challenger.serving.ref.version,
            **ready_fields,
        )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await store.close()

    return lifespan
