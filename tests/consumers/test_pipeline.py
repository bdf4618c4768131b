"""The commit pipeline against a real Kafka consumer group: offsets move forward only in batch order,
only past batches whose tails succeeded, and a failed batch is re-read, never skipped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from consumers.pipeline import CommitPipeline, PipelineRebalanceListener, Records, Saving, Tail
from infra.settings import Settings
from tests.conftest import isolated_settings
from tests.consumers.conftest import group_consumer, produce

pytestmark = pytest.mark.integration

PARTITION = 0
TOTAL = 30


async def next_batch(consumer: AIOKafkaConsumer) -> list[ConsumerRecord[bytes, bytes]]:
    async with asyncio.timeout(20):
        while True:
            fetched = await consumer.getmany(timeout_ms=500, max_records=10)
            if records := [r for batch in fetched.values() for r in batch]:
                return records


def head_with(tail: Tail, seen: list[int]) -> Callable[[Records], Awaitable[Tail]]:
    async def head(records: Records) -> Tail:
        seen.extend(r.offset for r in records)
        return tail

    return head


async def ok() -> None:
    return None


@contextlib.asynccontextmanager
async def piped_consumer(settings: Settings) -> AsyncIterator[tuple[AIOKafkaConsumer, CommitPipeline]]:
    """A consumer in the settings' group whose batches go through a commit pipeline."""
    consumer = group_consumer(settings)
    pipeline = CommitPipeline(lambda: consumer, depth=4, flush_seconds=10)
    consumer.subscribe([settings.requests_topic], listener=PipelineRebalanceListener(pipeline))
    await consumer.start()
    try:
        yield consumer, pipeline
    finally:
        await pipeline.close()
        await consumer.stop()


async def scenario(settings: Settings) -> None:
    tp = TopicPartition(settings.requests_topic, PARTITION)
    async with piped_consumer(settings) as (consumer, pipeline):
        first, second = await next_batch(consumer), await next_batch(consumer)
        stale = await next_batch(consumer)  # fetched before the rewind, handed over after it
        assert first[0].offset == 0
        assert second[0].offset == first[-1].offset + 1

        release = asyncio.Event()

        async def refused() -> None:
            await release.wait()
            raise ValueError("results topic refused the batch")  # not transient: no retry

        heads: list[int] = []
        await pipeline.process(first, head_with(refused, heads))
        await pipeline.process(second, head_with(ok, heads))  # its tail succeeds first ...
        await asyncio.sleep(0.5)
        assert await consumer.committed(tp) is None  # ... but it is not committed past the pending first
        release.set()
        assert await pipeline.flush()
        assert await consumer.committed(tp) is None  # the first failed: nothing after it was committed

        await pipeline.process(stale, head_with(ok, heads))
        assert heads == [r.offset for r in (*first, *second)], "records fetched before the rewind were handled"

        redelivered: list[int] = []
        while await consumer.committed(tp) != TOTAL:
            await pipeline.process(await next_batch(consumer), head_with(ok, redelivered))
            assert await pipeline.flush()
        assert redelivered == list(range(TOTAL))  # re-read from the failed batch's first offset, nothing skipped


async def shutdown(settings: Settings) -> None:
    tp = TopicPartition(settings.requests_topic, PARTITION)
    async with piped_consumer(settings) as (consumer, pipeline):
        first, late = await next_batch(consumer), await next_batch(consumer)

        async def slow() -> None:
            await asyncio.sleep(1.0)

        heads: list[int] = []
        await pipeline.process(first, head_with(slow, heads))
        await pipeline.close()  # returns once the queued tail has been published and committed
        assert await consumer.committed(tp) == first[-1].offset + 1
        await pipeline.process(late, head_with(ok, heads))  # closing: not taken, the next owner re-reads it
        assert heads == [r.offset for r in first]
        assert await consumer.committed(tp) == first[-1].offset + 1


async def saving(settings: Settings) -> None:
    """A head whose saving still runs hands over at once: the next batch's head runs meanwhile. A batch
    is committed only once its saving and its tail are done; a failed saving rewinds it, its tail unrun."""
    tp = TopicPartition(settings.requests_topic, PARTITION)
    async with piped_consumer(settings) as (consumer, pipeline):
        first, second = await next_batch(consumer), await next_batch(consumer)
        release = asyncio.Event()
        tails: list[str] = []

        async def save_then(fail: bool) -> None:
            await release.wait()
            if fail:
                raise ValueError("Redis refused the results")

        def saving_head(name: str, fail: bool, seen: list[int]) -> Callable[[Records], Awaitable[Saving]]:
            async def tail() -> None:
                tails.append(name)

            async def head(records: Records) -> Saving:
                seen.extend(r.offset for r in records)
                return Saving(asyncio.create_task(save_then(fail)), tail)

            return head

        heads: list[int] = []
        await pipeline.process(first, saving_head("first", False, heads))
        await pipeline.process(second, saving_head("second", True, heads))
        assert heads == [r.offset for r in (*first, *second)]  # both heads ran while the first still saved
        await asyncio.sleep(0.5)
        assert tails == []  # nothing follows an unsaved batch ...
        assert await consumer.committed(tp) is None  # ... and it is not committed
        release.set()
        assert await pipeline.flush()
        assert tails == ["first"]  # the second's saving failed: its tail never ran ...
        assert await consumer.committed(tp) == first[-1].offset + 1  # ... and it was not committed
        assert (await next_batch(consumer))[0].offset == second[0].offset  # it is read again


def produced(base_settings: Settings) -> Settings:
    settings = isolated_settings(base_settings)
    produce(
        settings,
        [(f"r-{i}".encode(), f'{{"n": {i}}}'.encode(), []) for i in range(TOTAL)],
        partition=PARTITION,
    )
    return settings


def test_a_failed_batch_is_rewound_and_later_batches_are_not_committed_past_it(base_settings: Settings) -> None:
    asyncio.run(scenario(produced(base_settings)))


def test_shutdown_commits_the_queued_tail_and_takes_no_new_batch(base_settings: Settings) -> None:
    asyncio.run(shutdown(produced(base_settings)))


def test_the_next_batch_is_taken_while_one_saves_and_a_failed_saving_rewinds_its_batch(base_settings: Settings) -> None:
    asyncio.run(saving(produced(base_settings)))


class RecordedTransactions:
    """Stands in for ``consumers.transactions.TransactionalSink``: runs each tail, records the offsets,
    and notes how many transactions were open at once."""

    def __init__(self) -> None:
        self.committed: list[dict[TopicPartition, int]] = []
        self.open = 0
        self.most_open = 0

    async def commit(self, work: Tail, offsets: dict[TopicPartition, int], current: Callable[[], bool]) -> None:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await work()
            self.committed.append(offsets)
        finally:
            self.open -= 1


async def transactional(settings: Settings) -> None:
    tp = TopicPartition(settings.requests_topic, PARTITION)
    transactions = RecordedTransactions()
    consumer = group_consumer(settings)
    pipeline = CommitPipeline(lambda: consumer, depth=4, flush_seconds=10, transactions=transactions)
    consumer.subscribe([settings.requests_topic], listener=PipelineRebalanceListener(pipeline))
    await consumer.start()
    try:
        batches = [await next_batch(consumer) for _ in range(3)]
        release = asyncio.Event()

        async def held() -> None:
            await release.wait()

        heads: list[int] = []
        await pipeline.process(batches[0], head_with(held, heads))  # its transaction waits ...
        await pipeline.process(batches[1], head_with(ok, heads))
        await pipeline.process(batches[2], head_with(ok, heads))
        await asyncio.sleep(0.5)
        assert heads == [r.offset for b in batches for r in b]  # ... while the next heads run ahead
        assert transactions.committed == []  # ... and no later batch's transaction starts before it
        release.set()
        assert await pipeline.flush()
        assert transactions.committed == [{tp: b[-1].offset + 1} for b in batches]  # in batch order
        assert transactions.most_open == 1
        assert await consumer.committed(tp) is None  # offsets go in the transaction, never by the consumer
    finally:
        await pipeline.close()
        await consumer.stop()


def test_exactly_once_commits_one_transaction_at_a_time_in_batch_order(base_settings: Settings) -> None:
    asyncio.run(transactional(produced(base_settings)))
