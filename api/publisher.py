"""Hands requests to Kafka, or says clearly that it could not (the API answers 503)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog
from faststream.kafka import KafkaBroker

from infra.kafka import PUBLISH_FAULTS, KafkaUnavailableError, Outgoing, chunk_messages, hand_over, keyed_json
from schemas.chunks import RowChunk
from schemas.messages import PredictionRequest

log = structlog.get_logger(__name__)


class RequestPublisher:
    def __init__(self, broker: KafkaBroker, topic: str, ack_timeout_seconds: float) -> None:
        self.broker = broker
        self.topic = topic
        self.ack_timeout_seconds = ack_timeout_seconds
        self.connected = False

    async def connect(self) -> None:
        await self.broker.start()
        self.connected = True

    async def connect_in_background(self, retry_seconds: float = 2.0) -> None:
        while not self.connected:
            try:
                await self.connect()
                log.info("kafka_connected")
            except PUBLISH_FAULTS as exc:
                log.warning("kafka_unavailable", error=str(exc))
                await asyncio.sleep(retry_seconds)

    async def ping(self) -> bool:
        return self.connected and await self.broker.ping(timeout=2.0)

    async def publish(self, requests: Sequence[PredictionRequest]) -> None:
        """Publish and wait for every acknowledgement (acks=all); ``KafkaUnavailableError`` if Kafka fails us."""
        await self._hand_over([keyed_json(self.topic, r.request_id, r) for r in requests])

    async def publish_chunks(self, chunks: Sequence[RowChunk]) -> None:
        """``publish`` for a bulk job's chunks (key: job and chunk)."""
        await self._hand_over(chunk_messages(self.topic, chunks))

    async def _hand_over(self, messages: Sequence[Outgoing]) -> None:
        if not self.connected:
            raise KafkaUnavailableError("Kafka is not reachable")
        try:
            await hand_over(self.broker, messages, self.ack_timeout_seconds)
        except KafkaUnavailableError as exc:
            log.warning("publish_failed", count=len(messages), error=repr(exc.__cause__))
            raise
