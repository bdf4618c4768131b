"""The FastStream Kafka broker every process uses (acks=all, idempotent producer), and how it publishes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from aiokafka.errors import KafkaError
from faststream.exceptions import FastStreamException
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from infra.settings import Settings
from schemas.chunks import RowChunk, chunk_key

log = structlog.get_logger(__name__)
JSON_HEADERS: Mapping[str, str] = {"content-type": "application/json"}
MAX_BATCH_BYTES = 512 * 1024


def create_broker(settings: Settings, *, client_id: str = "valuestream", linger_ms: int = 0) -> KafkaBroker:
    """``linger_ms``: how long the producer waits to batch concurrent sends into one request."""
    return KafkaBroker(
        settings.kafka_servers,
        acks="all",
        enable_idempotence=True,
        client_id=client_id,
        request_timeout_ms=10_000,
        linger_ms=linger_ms,
        # A partition's batch holds ~10 requests at the default 16 KiB: a large upload became
        # thousands of produce round trips, and each full batch made the sender wait for a drain.
        max_batch_size=MAX_BATCH_BYTES,
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


def chunk_json(chunk: RowChunk) -> bytes:
    """A chunk's JSON as ``model_dump_json`` writes it (its fields in order, UTC as ``Z``, a ``Decimal``
    cell as text), by orjson: a third of pydantic's time on 250 rows of cells, which it walks one by one."""
    fields = {name: getattr(chunk, name) for name in RowChunk.model_fields}
    return orjson.dumps(fields, option=orjson.OPT_UTC_Z, default=str)


def chunk_messages(topic: str, chunks: Iterable[RowChunk], headers: Mapping[str, str] = JSON_HEADERS) -> list[Outgoing]:
    """Bulk chunks as messages keyed by job and chunk (a re-sent chunk lands where the first copy did)."""
    return [Outgoing(topic, chunk_json(c), chunk_key(c.job_id, c.chunk).encode(), headers) for c in chunks]


class KafkaUnavailableError(RuntimeError):
    """Kafka refused the messages, or acknowledged none of them for the acknowledgement timeout."""


PUBLISH_FAULTS = (KafkaError, OSError, TimeoutError, FastStreamException)


def retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a done future's error as seen (asyncio logs an error nobody retrieved)."""
    if not future.cancelled():
        future.exception()


async def acknowledged(futures: Sequence[asyncio.Future[Any]], ack_timeout: float | None) -> None:
    """Wait for every acknowledgement; ``TimeoutError`` when none arrives for ``ack_timeout`` seconds.

    The deadline restarts with each acknowledgement, so it measures the broker, never the sender:
    a large send on a busy machine takes longer, and only a broker that stops answering fails it.
    """
    waiting = set(futures)
    try:
        while waiting:
            done, waiting = await asyncio.wait(waiting, timeout=ack_timeout, return_when=asyncio.FIRST_EXCEPTION)
            if not done:
                raise TimeoutError(f"Kafka acknowledged nothing for {ack_timeout} s")
            for future in done:
                retrieve(future)  # every error in ``done`` counts as seen before the first one is raised
            for future in done:
                future.result()
    finally:
        for future in waiting:  # failed or abandoned: their errors are not news
            future.add_done_callback(retrieve)


async def publish_confirmed(
    broker: KafkaBroker, messages: Iterable[Outgoing], ack_timeout: float | None = None
) -> None:
    """Hand every message to the producer at once (it batches them), then wait for all acknowledgements.

    Handing over is bounded by the producer itself (metadata and buffer waits end after its request
    timeout); ``ack_timeout`` bounds the wait between acknowledgements (see ``acknowledged``).
    """
    pending = [
        await broker.publish(m.value, m.topic, key=m.key, headers=dict(m.headers), no_confirm=True) for m in messages
    ]
    await acknowledged(pending, ack_timeout)


async def stop_within(broker: KafkaBroker, seconds: float) -> None:
    """Stop the broker's clients; after ``seconds`` give up on messages Kafka never acknowledged.

    The producer flushes on stop and retries for as long as the broker is away, so without a
    bound a process stopped while Kafka is down never exits. Whoever sent the abandoned
    messages was already told they failed (``KafkaUnavailableError``).
    """
    try:
        async with asyncio.timeout(seconds):
            await broker.stop()
    except TimeoutError:
        log.warning("kafka_stop_abandoned", seconds=seconds)


async def hand_over(broker: KafkaBroker, messages: Sequence[Outgoing], ack_timeout: float) -> None:
    """``publish_confirmed`` for producers whose callers need one answer when Kafka fails them."""
    try:
        await publish_confirmed(broker, messages, ack_timeout)
    except PUBLISH_FAULTS as exc:
        raise KafkaUnavailableError(f"Kafka did not acknowledge the requests ({type(exc).__name__})") from exc
