"""Take records off the Kafka consumer as they land, so the next batch holds everything that arrived.

aiokafka sends a broker its next fetch only once the records of the previous one are taken, and
while any partition's records wait untaken it holds back fetches to that broker for up to 100 ms
(its prefetch backoff). The subscriber takes records only between batches, so a request that
arrived while a batch was being scored waited for that batch, then for a fetch, often for one more
batch. Here a reader task takes records the moment aiokafka has them and queues them (at most
``max_records``: beyond that it waits, so memory stays bounded); each batch is what is queued.

Records queued but not yet handed over are dropped by ``discard`` when the pipeline rewinds or
partitions are revoked: they were fetched before the seek, and the re-read brings them again.

``BatchLoop`` is the worker's consume loop: it hands each batch to the pipeline. FastStream creates
and subscribes the consumer (group, rebalance listener, connection settings) and documents the topic,
but the subscriber is declared without a handler, so FastStream runs no loop of its own: this module
is the one place that reads records from aiokafka, through the consumer's public ``getmany``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import ConsumerStoppedError, KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import BatchSubscriber

from infra.settings import Settings

log = structlog.get_logger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]
Batch: TypeAlias = tuple[Record, ...]
FETCH_RETRY_SECONDS = 5.0
"""Pause after a failed fetch before the next (the broker may be away), as FastStream's own loop does."""


def size(record: Record) -> int:
    return len(record.value or b"")


def requests_subscriber(
    broker: KafkaBroker,
    settings: Settings,
    *,
    group_id: str,
    listener: ConsumerRebalanceListener,
    title: str,
    description: str,
    fetch_max_wait_ms: int | None = None,
    fetch_min_bytes: int = 1,
) -> BatchSubscriber:
    """The requests topic's subscriber whose records a ``BatchLoop`` takes. FastStream creates, subscribes
    and documents the consumer; with no handler it runs no loop of its own. MANUAL: the loop's owner
    commits each batch's offsets itself. The broker answers a fetch once ``fetch_min_bytes`` are there
    or ``fetch_max_wait_ms`` (the workers' setting by default) have passed."""
    subscriber = broker.subscriber(
        settings.requests_topic,
        batch=True,
        group_id=group_id,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_max_wait_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        fetch_max_wait_ms=settings.worker_fetch_max_wait_ms if fetch_max_wait_ms is None else fetch_max_wait_ms,
        fetch_min_bytes=fetch_min_bytes,
        listener=listener,
        no_reply=True,
        title=title,
        description=description,
    )
    assert isinstance(subscriber, BatchSubscriber)
    return subscriber


class Prefetcher:
    """``max_bytes`` bounds a batch's message bytes too (a bulk chunk carries hundreds of rows): a batch
    stops at ``max_records`` or at the record that reaches ``max_bytes`` (at least one record), and the
    reader pauses while twice ``max_bytes`` are queued."""

    def __init__(self, max_records: int, wait_ms: int, max_bytes: int = 1 << 62) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.wait_seconds = wait_ms / 1000
        self._queued: collections.deque[Record] = collections.deque()
        self._queued_bytes = 0
        self._landed = asyncio.Event()  # something is queued (or the reader failed)
        self._room = asyncio.Event()  # fewer than max_records are queued
        self._room.set()
        self._reader: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._closed = False

    @property
    def queued(self) -> int:
        return len(self._queued)

    async def next_batch(self, consumer: AIOKafkaConsumer) -> Batch:
        """Up to ``max_records`` queued records, each partition's in offset order; waits up to
        ``wait_ms`` for the first, empty if none came. Raises what the reader's last fetch raised."""
        if self._closed:
            await asyncio.sleep(self.wait_seconds)
            return ()
        if not self._queued:
            self._reraise()
            self._start(consumer)
            self._landed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._landed.wait(), self.wait_seconds)
            if not self._queued:
                self._reraise()
                return ()
        taken: list[Record] = []
        taken_bytes = 0
        while self._queued and len(taken) < self.max_records and taken_bytes < self.max_bytes:
            record = self._queued.popleft()
            taken.append(record)
            taken_bytes += size(record)
        self._queued_bytes -= taken_bytes
        if not self._full():
            self._room.set()
        # Stable: records of one partition keep their order.
        return tuple(sorted(taken, key=lambda record: (record.topic, record.partition)))

    def discard(self) -> int:
        """Drop what is queued; the count dropped. A fetch still in progress needs no care: aiokafka
        hands out only records that follow the partition's current position, i.e. after the seek."""
        dropped = len(self._queued)
        self._queued.clear()
        self._queued_bytes = 0
        self._room.set()
        return dropped

    async def close(self) -> None:
        """At shutdown: stop reading; what is queued is left to the next owner (never committed)."""
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        self.discard()

    def _full(self) -> bool:
        return len(self._queued) >= self.max_records or self._queued_bytes >= 2 * self.max_bytes

    def _start(self, consumer: AIOKafkaConsumer) -> None:
        if self._reader is not None and not self._reader.done():
            if self._consumer is consumer:
                return
            self._reader.cancel()  # the subscriber restarted with a new consumer
        self._consumer = consumer
        self._reader = asyncio.create_task(self._read(consumer))

    def _reraise(self) -> None:
        """Hand a failed fetch's error to the subscriber loop, which logs and retries, or stops."""
        if self._reader is not None and self._reader.done() and not self._reader.cancelled():
            reader, self._reader = self._reader, None
            reader.result()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                await self._room.wait()
                fetched = await consumer.getmany(timeout_ms=1_000, max_records=self.max_records)
                for records in fetched.values():
                    self._queued.extend(records)
                    self._queued_bytes += sum(size(r) for r in records)
                if self._full():
                    self._room.clear()
                if self._queued:
                    self._landed.set()
        finally:
            self._landed.set()  # wake a waiting batch, so a failure is seen at once


class BatchLoop:
    """Hands every non-empty batch of the prefetcher to ``handle``, one at a time, until stopped.

    ``consumer`` returns the subscriber's consumer (None until it started). A fetch error is logged
    and retried after ``FETCH_RETRY_SECONDS``; a stopped consumer ends the loop; a batch ``handle``
    fails on is logged (the pipeline rewinds it itself) and the loop goes on.
    """

    def __init__(
        self,
        consumer: Callable[[], AIOKafkaConsumer | None],
        prefetcher: Prefetcher,
        handle: Callable[[Batch], Awaitable[None]],
    ) -> None:
        self._consumer = consumer
        self._prefetcher = prefetcher
        self._handle = handle
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Start the loop on the running event loop (a FastStream hook: async, so not run in a thread)."""
        self._task = asyncio.create_task(self._run(), name="batch-loop")

    async def ended(self) -> None:
        """Wait until the loop ends by itself (its consumer stopped)."""
        if self._task is not None:
            await asyncio.wait({self._task})

    async def stop(self) -> None:
        # The flag, not the cancel alone, ends the loop: Python 3.11's asyncio.wait_for returns its
        # result instead of raising when a cancel lands as that result arrives, and the prefetcher's
        # close wakes the wait at exactly that moment (the worker then hung until SIGKILL).
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            consumer = self._consumer()
            if consumer is None:
                await asyncio.sleep(self._prefetcher.wait_seconds)
                continue
            try:
                batch = await self._prefetcher.next_batch(consumer)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:
                log.error("fetch_failed", error=repr(exc))
                await asyncio.sleep(FETCH_RETRY_SECONDS)
                continue
            if not batch:
                continue
            try:
                await self._handle(batch)
            except Exception as exc:
                log.exception("batch_handling_failed", error=repr(exc))
