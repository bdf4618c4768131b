"""Publish consumed batches' results in the background, commit their offsets strictly in order.

A batch is handled in two parts. The head (parse, score, save to Redis) runs in the subscriber's
loop, which fetches the next batch right after it; the tail (publish results and dead letters,
wait for Kafka's acks) and the commit follow in the background, overlapping the next batches.
A head may hand over before its saving is done (``Saving``): the next batch is then scored while
this one is saved, and the saving's failure counts as the head's.
Up to ``depth`` tails are queued. Offsets only move forward and only in batch order: a batch is
committed once its own tail succeeded AND every earlier batch has settled, i.e. never before its
results are in Redis and on the results topic. One commit at a time carries the offsets of all
batches that settled meanwhile.

When a batch fails (its head or its tail hit a non-transient error), nothing handed over after
it is committed: the consumer seeks every partition with uncommitted work back to its
earliest uncommitted offset; records fetched before that seek are dropped (those not yet handed
over at once, through ``drop_prefetched``; any handed over later because their partition's next
batch must start at the seek offset), and the re-read redelivers them. Results are idempotent
by request_id, so a redelivery rewrites the same record.
A rebalance flushes the batches in flight first (bounded by ``flush_seconds``); a commit refused
because the partition moved is logged, not fatal: the new owner re-reads (at-least-once).

Exactly-once (``transactions`` given, ``consumers.transactions``): a batch's tail and its offsets
form one Kafka transaction, run once every earlier batch settled, so transactions commit in batch
order, one at a time, and a batch's offsets commit atomically with its results. Heads still run
ahead (up to ``depth`` batches are scored and in Redis while earlier transactions commit). A
transaction that fails is aborted and tried again whole; only a batch whose head failed, or a
fenced producer, rewinds as above.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Protocol

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from consumers.metrics import PIPELINE_EVENTS, STAGE_SECONDS
from infra.kafka import retrieve

log = structlog.get_logger(__name__)

Records = Sequence[ConsumerRecord[bytes, bytes]]
Tail = Callable[[], Awaitable[None]]  # the rest of a batch's work, after its results are in Redis


@dataclass(frozen=True)
class Saving:
    """A head whose last step (its results going into Redis) is still running: the pipeline takes the
    next batch meanwhile, so the next batch is scored while this one is saved. The saving counts as
    the head: if it fails, the batch is rewound and its tail never runs (no transaction begins); the
    tail starts only once it succeeded."""

    saved: asyncio.Task[None]
    tail: Tail


Head = Callable[[Records], Awaitable[Tail | Saving]]


class Transactions(Protocol):
    """Runs a batch's tail and commits its offsets in one transaction (``consumers.transactions``)."""

    async def commit(self, work: Tail, offsets: dict[TopicPartition, int], current: Callable[[], bool]) -> None:
        """``current``: False once the batch was given up (a rebalance); its transaction must then not commit."""
        ...


@dataclass(eq=False)
class Span:
    """The offsets one batch covers, per partition: its first record and the next offset to commit."""

    first: dict[TopicPartition, int]
    next: dict[TopicPartition, int]
    epoch: int
    handed_over: float = field(default_factory=time.perf_counter)


def partition_name(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


class CommitPipeline:
    def __init__(
        self,
        consumer: Callable[[], AIOKafkaConsumer | None],
        depth: int = 8,
        flush_seconds: float = 10.0,
        drop_prefetched: Callable[[], int] = lambda: 0,
        transactions: Transactions | None = None,
    ) -> None:
        self._consumer = consumer
        self._drop_prefetched = drop_prefetched  # records fetched but not yet handed over
        self._slots = asyncio.Semaphore(depth)
        self._to_commit: dict[TopicPartition, int] = {}  # settled batches' offsets not yet sent
        self._committer: asyncio.Task[None] | None = None
        self._flush_seconds = flush_seconds
        self._epoch = 0  # bumped by every rewind and rebalance: older spans are never committed
        self._open: list[Span] = []  # admitted, neither committed nor given up, in admission order
        self._rewound: dict[TopicPartition, int] = {}  # partition -> offset its next batch must start at
        self._last: asyncio.Task[None] | None = None  # the newest batch: each settles after its predecessor
        self._closing = False
        self._transactions = transactions  # None: at-least-once (tails overlap, then consumer commits)
        self._transacted: dict[TopicPartition, int] = {}  # offsets this worker's transactions committed

    async def process(self, records: Records, head: Head) -> None:
        """Run the batch's head now, then queue its tail and commit (waits while ``depth`` tails are queued)."""
        await self._slots.acquire()
        kept, span = ([], None) if self._closing else self.admit(records)
        if span is None:
            self._slots.release()
            return
        tail: Tail | None = None
        saved: asyncio.Task[None] | None = None
        failure: Exception | None = None
        try:
            handed = await head(kept)
            saved, tail = (handed.saved, handed.tail) if isinstance(handed, Saving) else (None, handed)
        except Exception as exc:
            failure = exc
        except BaseException:  # cancelled at shutdown
            self._closing = True
            raise
        finally:
            if self._closing:  # shutting down: never committed, the next owner re-reads it
                self._forget(span)
                self._slots.release()
        if self._closing:
            if saved is not None:
                saved.add_done_callback(retrieve)
            return
        # Created in hand-over order, so each batch's predecessor is the batch handed over before it.
        self._last = asyncio.create_task(self._settle(span, tail, failure, self._last, saved))

    def admit(self, records: Records) -> tuple[list[ConsumerRecord[bytes, bytes]], Span | None]:
        """Drop records fetched before a rewind; the rest and the span that commits them (None: nothing left)."""
        kept: list[ConsumerRecord[bytes, bytes]] = []
        first: dict[TopicPartition, int] = {}
        following: dict[TopicPartition, int] = {}
        for (topic, partition), group in groupby(records, key=lambda r: (r.topic, r.partition)):
            items = list(group)
            tp = TopicPartition(topic, partition)
            target = self._rewound.get(tp)
            if target is not None:
                if items[0].offset != target:
                    PIPELINE_EVENTS.labels("stale_dropped").inc(len(items))
                    continue
                del self._rewound[tp]
            kept.extend(items)
            first[tp] = min(first.get(tp, items[0].offset), items[0].offset)
            following[tp] = max(following.get(tp, 0), items[-1].offset + 1)
        if not kept:
            return kept, None
        span = Span(first, following, self._epoch)
        self._open.append(span)
        return kept, span

    async def _settle(
        self,
        span: Span,
        tail: Tail | None,
        failure: Exception | None,
        previous: asyncio.Task[None] | None,
        saved: asyncio.Task[None] | None = None,
    ) -> None:
        try:
            if saved is not None:
                failure = await _failure_of(lambda: saved)
                tail = None if failure is not None else tail
            if tail is not None and self._transactions is None:
                failure = await _failure_of(tail) or failure
            if previous is not None:
                await asyncio.wait([previous])  # settle in order, whatever happened to it
            if span.epoch != self._epoch:
                return  # an earlier failure or a rebalance already rewound this batch
            if tail is not None and failure is None and self._transactions is not None:
                failure = await _failure_of(lambda: self._transact(span, tail))
                if span.epoch != self._epoch:
                    return  # given up meanwhile (a rebalance): its transaction was aborted, not committed
            if failure is not None:
                log.error("batch_failed", error=repr(failure), exc_info=failure)
                self._rewind()
                return
            if self._transactions is None:
                self._ready(span)
        finally:
            self._forget(span)
            self._slots.release()

    async def _transact(self, span: Span, tail: Tail) -> None:
        """The tail and the batch's offsets (of partitions still owned) in one transaction."""
        assert self._transactions is not None
        consumer = self._consumer()
        owned = consumer.assignment() if consumer is not None else set()
        offsets = {tp: o for tp, o in span.next.items() if tp in owned}
        await self._transactions.commit(tail, offsets, lambda: span.epoch == self._epoch)
        self._transacted.update(offsets)
        STAGE_SECONDS.labels("cycle").observe(time.perf_counter() - span.handed_over)

    def _ready(self, span: Span) -> None:
        """Queue a settled batch's offsets; one commit at a time carries all that are queued."""
        STAGE_SECONDS.labels("cycle").observe(time.perf_counter() - span.handed_over)
        for tp, offset in span.next.items():
            self._to_commit[tp] = max(self._to_commit.get(tp, offset), offset)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_queued())

    async def _commit_queued(self) -> None:
        while self._to_commit:
            offsets, self._to_commit = self._to_commit, {}
            await self._commit(offsets)

    async def _commit(self, queued: dict[TopicPartition, int]) -> None:
        consumer = self._consumer()
        owned = consumer.assignment() if consumer is not None else set()
        offsets = {tp: offset for tp, offset in queued.items() if tp in owned}
        if consumer is None or not offsets:
            return
        started = time.perf_counter()
        try:
            await consumer.commit(offsets)
        except (KafkaError, AssertionError) as exc:  # rebalanced meanwhile: the new owner re-reads
            PIPELINE_EVENTS.labels("commit_failed").inc()
            log.warning("commit_failed", error=repr(exc), partitions=[partition_name(tp) for tp in offsets])
            return
        STAGE_SECONDS.labels("commit").observe(time.perf_counter() - started)

    def _rewind(self) -> None:
        """Seek each owned partition with uncommitted work back to its earliest uncommitted offset."""
        targets: dict[TopicPartition, int] = {}
        for span in self._open:
            if span.epoch == self._epoch:
                for tp, offset in span.first.items():
                    targets[tp] = min(targets.get(tp, offset), offset)
        self._epoch += 1
        self._open.clear()
        PIPELINE_EVENTS.labels("stale_dropped").inc(self._drop_prefetched())
        consumer = self._consumer()
        owned = consumer.assignment() if consumer is not None else set()
        for tp, offset in targets.items():
            if consumer is not None and tp in owned:
                consumer.seek(tp, offset)
                self._rewound[tp] = min(self._rewound.get(tp, offset), offset)
        PIPELINE_EVENTS.labels("rewind").inc()
        log.warning("batches_rewound", offsets={partition_name(tp): o for tp, o in targets.items() if tp in owned})

    def _forget(self, span: Span) -> None:
        with contextlib.suppress(ValueError):
            self._open.remove(span)

    async def flush(self) -> bool:
        """Wait for the batches in flight to settle (bounded); True if they all did."""
        deadline = time.monotonic() + self._flush_seconds
        # The committer is looked up after the batches settle: the last of them may have started it.
        for name in ("_last", "_committer"):
            task: asyncio.Task[None] | None = getattr(self, name)
            if task is not None and not task.done():
                done, _ = await asyncio.wait([task], timeout=max(0.0, deadline - time.monotonic()))
                if not done:
                    return False
        return True

    async def close(self) -> None:
        """At shutdown, before the consumer closes: take no new batch, let those in flight commit."""
        self._closing = True
        if not await self.flush():
            log.warning("pipeline_not_flushed", seconds=self._flush_seconds)

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        """Exactly-once: start each partition at least where this worker's own transactions left it.

        aiokafka fetches committed offsets without ``require_stable`` (KIP-447), so right after a
        transaction commits the group may still return the offset before it, and the batch would be
        read (and its results committed) again. Offsets only grow: the larger of the two is right."""
        consumer = self._consumer()
        if self._transactions is None or consumer is None:
            return
        for tp in partitions & self._transacted.keys():
            committed = await consumer.committed(tp)
            if committed is None or committed < self._transacted[tp]:
                PIPELINE_EVENTS.labels("stale_offset_skipped").inc()
                consumer.seek(tp, self._transacted[tp])

    async def revoked(self) -> None:
        """Before a rebalance takes partitions away: commit what is ready, forget the rest.

        Exactly-once: a transaction still in flight after the flush must not commit once the partitions
        may have a new owner, so the epoch moves first (the transaction sees its batch is no longer
        current and aborts at its next step) and the rebalance waits until it has ended."""
        flushed = await self.flush()
        self._epoch += 1
        if not flushed and self._transactions is not None and self._last is not None:
            await asyncio.wait([self._last])
        self._drop_prefetched()  # the new owner of their partitions re-reads them
        self._open.clear()
        self._rewound.clear()  # positions of the next assignment come from the committed offsets
        if not flushed:
            log.warning("pipeline_not_flushed_before_rebalance", seconds=self._flush_seconds)


async def _failure_of(call: Tail) -> Exception | None:
    try:
        await call()
    except Exception as exc:
        return exc
    return None


class PipelineRebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, pipeline: CommitPipeline) -> None:
        self.pipeline = pipeline

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.pipeline.revoked()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.pipeline.assigned(assigned)
