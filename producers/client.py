"""Async client library for services that talk to valuestream over Kafka.

    async with ValuationClient(settings, reply_topic="my-service.valuations") as client:
        ids = await client.submit([house1, house2])
        results = await client.wait(ids, within=10)

Requests go to ``predictions.requests`` with the request id as key (acks=all, idempotent
producer). Results come back on the ``reply_to`` topic when one is given (the worker produces
each result there too), otherwise they are read from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from types import TracebackType

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from infra.kafka import (
    JSON_HEADERS,
    PUBLISH_FAULTS,
    KafkaUnavailableError,
    chunk_messages,
    create_broker,
    hand_over,
    keyed_json,
    stop_within,
)
from infra.settings import Settings
from infra.topics import ensure_settings_topics
from schemas import PredictionRequest, PredictionResult, PropertyFeatures, Source
from schemas.chunks import RowChunk
from schemas.topics import REPLY_TO_HEADER
from state import State

log = structlog.get_logger(__name__)
POLL_SECONDS = 0.05


class ResultTimeoutError(TimeoutError):
    """Some results did not arrive in time."""


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str, wait: float = 15.0) -> list[TopicPartition]:
    """The topic's partitions, once the cluster metadata knows a freshly created topic."""
    deadline = time.monotonic() + wait
    while True:
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no partitions after {wait} s")
        await asyncio.sleep(0.2)


class ValuationClient:
    def __init__(self, settings: Settings, reply_topic: str | None = None, source: Source = "kafka") -> None:
        self.settings = settings
        self.reply_topic = reply_topic
        self.source = source
        self.broker = create_broker(settings, client_id="producer")
        self.store = State.connect(settings)
        self._replies: dict[str, PredictionResult] = {}
        self._arrived = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._listening: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ValuationClient:
        try:
            await self.broker.start()
        except PUBLISH_FAULTS as exc:
            await self.store.close()
            raise KafkaUnavailableError(f"Kafka is not reachable at {self.settings.kafka_bootstrap}") from exc
        if self.reply_topic:
            await self._listen(self.reply_topic)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
        if self._consumer is not None:
            await self._consumer.stop()
        await stop_within(self.broker, self.settings.kafka_ack_timeout_seconds)
        await self.store.close()

    async def _listen(self, topic: str) -> None:
        """Read the reply topic from its current end, before anything is sent."""
        await ensure_settings_topics(self.settings, [topic])
        # read_committed: in exactly-once mode a reply shows only once its batch's transaction committed.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_servers, enable_auto_commit=False, isolation_level="read_committed"
        )
        await consumer.start()
        self._consumer = consumer
        partitions = await topic_partitions(consumer, topic)
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)
        self._listening = asyncio.create_task(self._collect(consumer))

    async def _collect(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            try:
                result = PredictionResult.model_validate_json(record.value)
            except ValidationError:
                log.warning("reply_unreadable", partition=record.partition, offset=record.offset)
                continue
            self._replies[result.request_id] = result
            self._arrived.set()

    def requests(
        self, houses: Sequence[PropertyFeatures], job_id: str | None = None, ids: Sequence[str] | None = None
    ) -> list[PredictionRequest]:
        ids = ids or [uuid.uuid4().hex for _ in houses]
        return [
            PredictionRequest(
                request_id=rid,
                job_id=job_id,
                row=None if job_id is None else i,
                source=self.source,
                features=house,
            )
            for i, (rid, house) in enumerate(zip(ids, houses, strict=True))
        ]

    async def publish(self, requests: Sequence[PredictionRequest]) -> None:
        """Publish and wait for every acknowledgement; the reply topic rides in a header.

        Raises ``KafkaUnavailableError`` when Kafka refuses them or stops acknowledging.
        """
        headers = {**JSON_HEADERS, REPLY_TO_HEADER: self.reply_topic} if self.reply_topic else JSON_HEADERS
        topic = self.settings.requests_topic
        messages = [keyed_json(topic, r.request_id, r, headers) for r in requests]
        await hand_over(self.broker, messages, self.settings.kafka_ack_timeout_seconds)

    async def publish_chunks(self, chunks: Sequence[RowChunk]) -> None:
        """``publish`` for a bulk job's chunks (key: job and chunk)."""
        messages = chunk_messages(self.settings.requests_topic, chunks)
        await hand_over(self.broker, messages, self.settings.kafka_ack_timeout_seconds)

    async def submit(self, houses: Sequence[PropertyFeatures], job_id: str | None = None) -> list[str]:
        requests = self.requests(houses, job_id)
        await self.publish(requests)
        return [r.request_id for r in requests]

    async def wait(self, request_ids: Sequence[str], within: float = 30.0) -> dict[str, PredictionResult]:
        """Final results (done or failed) of every id, from the reply topic or from Redis."""
        deadline = time.monotonic() + within
        found: dict[str, PredictionResult] = {}
        while True:
            self._arrived.clear()
            missing = [rid for rid in request_ids if rid not in found]
            if self._consumer is not None:
                found.update({rid: self._replies.pop(rid) for rid in missing if rid in self._replies})
            else:
                stored = await self.store.predictions.get_many(missing)
                found.update({r.request_id: r for r in stored if r is not None and r.status != "queued"})
            if len(found) == len(request_ids):
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise ResultTimeoutError(f"{len(request_ids) - len(found)} of {len(request_ids)} results missing")
            if self._consumer is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), min(left, 1.0))
            else:
                await asyncio.sleep(min(left, POLL_SECONDS))

    async def predict(self, houses: Sequence[PropertyFeatures], within: float = 30.0) -> list[PredictionResult]:
        ids = await self.submit(houses)
        results = await self.wait(ids, within)
        return [results[rid] for rid in ids]
