"""A worker's heartbeat in Redis: the API's health check reads who is serving which model."""

from __future__ import annotations

import asyncio
import socket

import structlog

from consumers.model import ModelHolder
from schemas import utc_now
from schemas.api import WorkerHeartbeat
from state import StoreUnavailableError
from state.heartbeats import Heartbeats

log = structlog.get_logger(__name__)
INTERVAL_SECONDS = 5.0


def worker_name(index: int) -> str:
    """Unique across hosts: replicas in containers all run ``--index 0``."""
    return f"worker-{index}@{socket.gethostname()}"


async def beat_forever(heartbeats: Heartbeats, name: str, models: ModelHolder) -> None:
    while True:
        beat = WorkerHeartbeat(name=name, model=models.current.ref if models.loaded else None, seen_at=utc_now())
        try:
            await heartbeats.beat(beat, int(INTERVAL_SECONDS * 3))
        except StoreUnavailableError as exc:
            log.warning("heartbeat_failed", error=str(exc))
        await asyncio.sleep(INTERVAL_SECONDS)
