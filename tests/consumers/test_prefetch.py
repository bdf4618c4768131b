"""The prefetcher against a real Kafka consumer: records that land while a batch is being handled are
all in the next batch, in order; the queue is bounded; ``discard`` plus a seek re-reads from the seek
offset; a fetch error reaches the caller. The worker's loop over it hands every record over in order,
goes on after a batch that failed, and ends when the consumer stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import ConsumerStoppedError

from consumers.prefetch import Batch, BatchLoop, Prefetcher
from infra.settings import Settings
from tests.conftest import isolated_settings
from tests.consumers.conftest import group_consumer

pytestmark = pytest.mark.integration

PARTITION = 0


@contextlib.asynccontextmanager
async def kafka_clients(settings: Settings) -> AsyncIterator[tuple[AIOKafkaProducer, AIOKafkaConsumer]]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    consumer = group_consumer(settings)
    consumer.subscribe([settings.requests_topic])
    await producer.start()
    await consumer.start()
    try:
        yield producer, consumer
    finally:
        await consumer.stop()
        await producer.stop()


async def send(producer: AIOKafkaProducer, topic: str, values: range) -> None:
    for i in values:
        await producer.send_and_wait(topic, str(i).encode(), partition=PARTITION)


async def batch(prefetcher: Prefetcher, consumer: AIOKafkaConsumer) -> list[int]:
    async with asyncio.timeout(20):
        while not (records := await prefetcher.next_batch(consumer)):
            pass
    return [int(r.value or b"") for r in records]


async def queued_at_least(prefetcher: Prefetcher, count: int, within: float = 20.0) -> None:
    """Waits until the reader has queued ``count`` records: a fixed pause was too short on a busy machine."""
    async with asyncio.timeout(within):
        while prefetcher.queued < count:  # noqa: ASYNC110 (watched from outside: the prefetcher keeps its event private)
            await asyncio.sleep(0.02)


async def arrivals_during_a_batch(settings: Settings) -> None:
    prefetcher = Prefetcher(max_records=500, wait_ms=50)
    async with kafka_clients(settings) as (producer, consumer):
        await send(producer, settings.requests_topic, range(1))
        assert await batch(prefetcher, consumer) == [0]
        # The batch is being handled: nobody asks for records while 20 more land one by one.
        await send(producer, settings.requests_topic, range(1, 21))
        await queued_at_least(prefetcher, 20)
        assert await batch(prefetcher, consumer) == list(range(1, 21))
        await prefetcher.close()


async def bounded_and_in_order(settings: Settings) -> None:
    prefetcher = Prefetcher(max_records=5, wait_ms=50)
    async with kafka_clients(settings) as (producer, consumer):
        await send(producer, settings.requests_topic, range(30))
        assert len(await batch(prefetcher, consumer)) <= 5
        await asyncio.sleep(1.0)  # the reader stops once max_records are queued
        assert prefetcher.queued <= 2 * 5
        seen: list[int] = []
        while len(seen) < 25:
            taken = await batch(prefetcher, consumer)
            assert len(taken) <= 5
            seen.extend(taken)
        assert seen == list(range(seen[0], seen[0] + len(seen)))
        await prefetcher.close()


async def discard_then_seek(settings: Settings) -> None:
    prefetcher = Prefetcher(max_records=4, wait_ms=50)
    tp = TopicPartition(settings.requests_topic, PARTITION)
    async with kafka_clients(settings) as (producer, consumer):
        await send(producer, settings.requests_topic, range(12))
        first = await batch(prefetcher, consumer)
        assert first == list(range(len(first)))
        await queued_at_least(prefetcher, 1)  # records after the first batch are queued
        assert prefetcher.discard() > 0
        consumer.seek(tp, 0)  # what the pipeline does when the first batch failed
        seen: list[int] = []
        while len(seen) < 12:
            seen.extend(await batch(prefetcher, consumer))
        assert seen == list(range(12))
        await prefetcher.close()


async def fetch_error_reaches_the_caller(settings: Settings) -> None:
    prefetcher = Prefetcher(max_records=10, wait_ms=50)
    async with kafka_clients(settings) as (_, consumer):
        assert await prefetcher.next_batch(consumer) == ()
        await consumer.stop()
        async with asyncio.timeout(10):
            with pytest.raises(ConsumerStoppedError):  # noqa: PT012 (empty batches come first)
                while True:
                    await prefetcher.next_batch(consumer)
        await prefetcher.close()


async def the_loop_hands_every_batch_over(settings: Settings) -> None:
    prefetcher = Prefetcher(max_records=5, wait_ms=50)
    handled: list[int] = []
    all_handled = asyncio.Event()

    async def handle(records: Batch) -> None:
        values = [int(r.value or b"") for r in records]
        handled.extend(values)
        if len(handled) >= 12:
            all_handled.set()
        if 0 in values:
            raise RuntimeError("the pipeline rewinds a failed batch itself; the loop goes on")

    async with kafka_clients(settings) as (producer, consumer):
        loop = BatchLoop(lambda: consumer, prefetcher, handle)
        await loop.start()
        await send(producer, settings.requests_topic, range(12))
        async with asyncio.timeout(20):
            await all_handled.wait()
        assert handled == list(range(12))
        await consumer.stop()
        async with asyncio.timeout(10):
            await loop.ended()  # ConsumerStoppedError ends it
        await loop.stop()
        await prefetcher.close()


def test_records_that_land_during_a_batch_are_all_in_the_next(base_settings: Settings) -> None:
    asyncio.run(arrivals_during_a_batch(isolated_settings(base_settings)))


def test_the_queue_is_bounded_and_batches_keep_offset_order(base_settings: Settings) -> None:
    asyncio.run(bounded_and_in_order(isolated_settings(base_settings)))


def test_discard_and_seek_re_read_from_the_seek_offset(base_settings: Settings) -> None:
    asyncio.run(discard_then_seek(isolated_settings(base_settings)))


def test_a_fetch_error_reaches_the_subscriber_loop(base_settings: Settings) -> None:
    asyncio.run(fetch_error_reaches_the_caller(isolated_settings(base_settings)))


def test_the_worker_loop_hands_every_batch_over_and_ends_with_its_consumer(base_settings: Settings) -> None:
    asyncio.run(the_loop_hands_every_batch_over(isolated_settings(base_settings)))


class SwallowsCancel(Prefetcher):
    """A next batch that returns empty when first cancelled, as Python 3.11's ``asyncio.wait_for`` does
    when the cancel lands as its result arrives (the prefetcher's close wakes it at that moment)."""

    swallowed = False

    async def next_batch(self, consumer: AIOKafkaConsumer) -> Batch:
        try:
            await asyncio.sleep(self.wait_seconds)
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed = True
        return ()


async def stopping_a_loop_whose_wait_ate_the_cancel() -> None:
    async def handle(records: Batch) -> None:
        raise AssertionError("no batch comes")

    prefetcher = SwallowsCancel(max_records=5, wait_ms=50)
    loop = BatchLoop(lambda: cast(AIOKafkaConsumer, object()), prefetcher, handle)
    await loop.start()
    await asyncio.sleep(0.2)
    stopping = asyncio.create_task(loop.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    assert prefetcher.swallowed
    assert stopping in done, "the loop went on after its cancel was swallowed (the worker hung until SIGKILL)"


def test_the_loop_stops_even_when_a_wait_swallows_the_cancel() -> None:
    asyncio.run(stopping_a_loop_whose_wait_ate_the_cancel())
