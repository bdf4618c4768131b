"""The FastStream Kafka broker every process uses (acks=all, idempotent producer), and how it publishes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from infra.settings import Settings

JSON_HEADERS: Mapping[str, str] = {"content-type": "application/json"}


def create_broker(settings: Settings, *, client_id: str = "valuestream", linger_ms: int = 0) -> KafkaBroker:
    """``linger_ms``: how long the producer waits to batch concurrent sends into one request."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        client_id=client_id,
        request_timeout_ms=10_000,
        linger_ms=linger_ms,
        logger=logging.getLogger(f"valuestream.{client_id}"),
    )


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: JSON_HEADERS)


def keyed_json(topic: str, key: str, message: BaseModel, headers: Mapping[str, str] = JSON_HEADERS) -> Outgoing:
    """A contract message as JSON, keyed by its id so one id always lands on one partition."""
    return Outgoing(topic, message.model_dump_json().encode(), key.encode(), headers)


async def publish_confirmed(broker: KafkaBroker, messages: Iterable[Outgoing]) -> None:
    """Hand every message to the producer at once (it batches them), then wait for all acknowledgements."""
    pending = [
        await broker.publish(m.value, m.topic, key=m.key, headers=dict(m.headers), no_confirm=True) for m in messages
    ]
    await asyncio.gather(*pending)
