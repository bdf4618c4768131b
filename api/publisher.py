"""Hands requests to Kafka, or says clearly that it could not (the API answers 503)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog
from aiokafka.errors import KafkaError
from faststream.exceptions import FastStreamException
from faststream.kafka import KafkaBroker

from infra.kafka import keyed_json, publish_confirmed
from schemas.messages import PredictionRequest

log = structlog.get_logger(__name__)


class KafkaUnavailableError(RuntimeError):
    """Kafka did not acknowledge the requests in time."""


class RequestPublisher:
    def __init__(self, broker: KafkaBroker, topic: str, timeout_seconds: float = 5.0) -> None:
        self.broker = broker
        self.topic = topic
        self.timeout_seconds = timeout_seconds
        self.connected = False

    async def connect(self) -> None:
        await self.broker.start()
        self.connected = True

    async def connect_in_background(self, retry_seconds: float = 2.0) -> None:
        while not self.connected:
            try:
                await self.connect()
                log.info("kafka_connected")
            except (KafkaError, OSError, FastStreamException) as exc:
                log.warning("kafka_unavailable", error=str(exc))
                await asyncio.sleep(retry_seconds)

    async def ping(self) -> bool:
        return self.connected and await self.broker.ping(timeout=2.0)

    async def publish(self, requests: Sequence[PredictionRequest]) -> None:
        """Publish and wait for every acknowledgement (acks=all)."""
        if not self.connected:
            raise KafkaUnavailableError("Kafka is not reachable")
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await publish_confirmed(self.broker, (keyed_json(self.topic, r.request_id, r) for r in requests))
        except (KafkaError, OSError, TimeoutError, FastStreamException) as exc:
            log.warning("publish_failed", count=len(requests), error=repr(exc))
            raise KafkaUnavailableError("Kafka did not accept the request in time") from exc
