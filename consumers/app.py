"""The scoring worker as a FastStream app: one batch subscriber in the workers' consumer group."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog
from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from prometheus_client import start_http_server

from consumers.heartbeat import beat_forever
from consumers.model import ModelHolder, NoChampionError
from consumers.worker import Worker
from infra.kafka import create_broker
from infra.redis import create_redis
from infra.settings import Settings
from infra.store import ResultStore
from schemas.keys import RedisKeys

log = structlog.get_logger(__name__)


async def raw_records(message: StreamMessage[Any]) -> Any:
    """Skip FastStream's decoding: the worker parses raw bytes itself so bad input reaches the DLQ."""
    return message.body


def build_worker(settings: Settings, broker: KafkaBroker, models: ModelHolder) -> Worker:
    store = ResultStore(
        create_redis(settings), RedisKeys(settings.redis_prefix), settings.result_ttl_seconds, settings.feed_maxlen
    )
    worker = Worker(settings, broker, store, models)

    @broker.subscriber(
        settings.requests_topic,
        batch=True,
        group_id=settings.consumer_group,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_max_wait_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.ACK,
        decoder=raw_records,
        no_reply=True,
        title="score-requests",
        description="Scores prediction requests in micro-batches; results to Redis and predictions.results.",
    )
    async def score_requests(body: list[bytes], message: KafkaMessage) -> None:
        await worker.handle(message.raw_message)

    return worker


async def wait_for_champion(models: ModelHolder, poll: float) -> None:
    while True:
        try:
            await asyncio.to_thread(models.refresh)
            return
        except NoChampionError as exc:
            log.warning("waiting_for_champion", error=str(exc))
            await asyncio.sleep(poll)


def create_app(settings: Settings, worker_index: int = 0, metrics_port: int | None = None) -> FastStream:
    broker = create_broker(settings, client_id=f"worker-{worker_index}")
    models = ModelHolder(settings)
    worker = build_worker(settings, broker, models)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        await wait_for_champion(models, min(settings.model_poll_seconds, 5.0))
        port = settings.worker_metrics_port + worker_index if metrics_port is None else metrics_port
        if port:
            start_http_server(port, addr="0.0.0.0")
        tasks = [
            asyncio.create_task(models.watch()),
            asyncio.create_task(beat_forever(worker.store.client, worker.store.keys, f"worker-{worker_index}", models)),
        ]
        log.info("worker_ready", index=worker_index, metrics_port=port, model_version=models.current.ref.version)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await worker.store.client.aclose()

    return FastStream(broker, lifespan=lifespan)
