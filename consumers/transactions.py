"""Exactly-once delivery: a batch's results, dead letters and consumed offsets in one Kafka transaction.

``VALUESTREAM_DELIVERY=exactly_once``. FastStream has no transactions, so the worker owns an aiokafka
producer with ``transactional_id = <consumer group>-worker-<index>``: the id is stable per worker
index, so a restarted worker's ``init_transactions`` aborts what its SIGKILLed predecessor left open
and fences it (a zombie's next send or commit fails with ``ProducerFenced``).

The commit pipeline (``consumers.pipeline``) calls ``commit`` once per batch, in batch order, after
every earlier batch settled: begin, run the batch's tail (its ``publish`` calls send into the open
transaction and wait for the acks), add the offsets to the transaction for the consumer group,
commit. A failure aborts the transaction (nothing of it is visible to a ``read_committed`` reader,
the offsets stay where they were) and the whole transaction is tried again with backoff, so a
broker that dies mid-transaction costs a retry, not a rewind. A fenced producer retries nothing:
``on_fenced`` stops the worker, its partitions go to the worker that fenced it.

Redis is not in the transaction: the head wrote the batch's results to Redis before the transaction
began, idempotently (keyed by request_id), so a reader of Redis sees a result as soon as it is scored
and sees it again, unchanged, after an abort and retry. A ``read_committed`` reader of the results
topic sees each result once, when its transaction commits; a ``read_uncommitted`` reader can also
see the records of aborted transactions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import InvalidProducerEpoch, KafkaError, ProducerFenced

from consumers.metrics import PIPELINE_EVENTS
from consumers.retry import with_retry
from infra.kafka import MAX_BATCH_BYTES, Outgoing, acknowledged
from infra.settings import Settings

log = structlog.get_logger(__name__)

Work = Callable[[], Awaitable[None]]


class FencedError(RuntimeError):
    """Another producer with this worker's transactional id started: this one is a zombie and must stop."""


class StaleBatchError(RuntimeError):
    """The batch was given up (its partitions may have a new owner): its transaction was aborted."""


class TransactionFailedError(RuntimeError):
    """A send in the open transaction failed: the transaction must be aborted and tried again whole.

    Not a transient error for ``with_retry``, so the tail's own retries leave it to ``commit``.
    """


def transactional_id(settings: Settings, worker_index: int) -> str:
    return f"{settings.consumer_group}-worker-{worker_index}"


class TransactionalSink:
    def __init__(self, settings: Settings, worker_index: int, on_fenced: Callable[[], None]) -> None:
        self.settings = settings
        self.transactional_id = transactional_id(settings, worker_index)
        self._on_fenced = on_fenced
        self._producer: AIOKafkaProducer | None = None
        self.fenced = False  # another producer took the id: no transaction of this one commits again
        self._stopping = False

    async def start(self) -> None:
        """Start the producer; its first transaction waits for ``init_transactions`` (which fences a zombie)."""
        self._producer = self._new_producer()
        await with_retry("kafka_transactions_start", self._producer.start)
        log.info("transactional_producer_ready", transactional_id=self.transactional_id)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_servers,
            client_id=self.transactional_id,
            transactional_id=self.transactional_id,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=10_000,
            max_batch_size=MAX_BATCH_BYTES,
        )

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("the transactional producer has not started")
        return self._producer

    async def publish(self, messages: Iterable[Outgoing]) -> None:
        """Send into the open transaction and wait for every acknowledgement."""
        try:
            pending = [
                await self.producer.send(
                    m.topic, m.value, key=m.key, headers=[(k, v.encode()) for k, v in m.headers.items()]
                )
                for m in messages
            ]
            await acknowledged(pending, None)
        except (KafkaError, OSError) as exc:  # not retried here: the open transaction is aborted, then sent again whole
            raise TransactionFailedError(f"send in transaction failed: {exc!r}") from exc

    async def commit(self, work: Work, offsets: dict[TopicPartition, int], current: Callable[[], bool]) -> None:
        """``work`` and ``offsets`` (the next offset to read per partition) in one transaction, tried again
        whole until it commits, or until ``current()`` turns False (``StaleBatchError``: aborted, never
        committed). Raises ``FencedError`` (after ``on_fenced``) if another worker took the id."""
        try:
            await with_retry("kafka_transaction", lambda: self._once(work, offsets, current))
        except FencedError:
            if not self._stopping:
                self._stopping = True
                log.error("producer_fenced", transactional_id=self.transactional_id)
                self._on_fenced()
            raise

    async def _once(self, work: Work, offsets: dict[TopicPartition, int], current: Callable[[], bool]) -> None:
        if not current():
            raise StaleBatchError("the batch was given up before its transaction began")
        if self.fenced:  # never replaced by a new producer: that would fence the worker that fenced this one
            raise FencedError(f"{self.transactional_id} was fenced by a newer producer")
        producer = self.producer
        try:
            await producer.begin_transaction()
            await work()
            if offsets:
                await producer.send_offsets_to_transaction(offsets, self.settings.consumer_group)
            if not current():
                raise StaleBatchError("the batch was given up during its transaction")
            await producer.commit_transaction()
        except Exception as exc:
            if fenced(exc):
                self.fenced = True
                raise FencedError(f"{self.transactional_id} was fenced by a newer producer") from exc
            await self._abort(exc)
            if isinstance(exc, TransactionFailedError):
                raise KafkaError(str(exc)) from exc  # transient for with_retry: the whole transaction again
            raise

    async def _abort(self, error: Exception) -> None:
        """Abort the open transaction; a producer that cannot abort (a fatal error) is replaced by a new
        one with the same id, whose start aborts whatever the old one left open."""
        PIPELINE_EVENTS.labels("transaction_aborted").inc()
        log.warning("transaction_aborted", transactional_id=self.transactional_id, error=repr(error))
        try:
            await self.producer.abort_transaction()
        except Exception as exc:
            log.warning("transactional_producer_replaced", error=repr(exc))
            await self.stop()
            await self.start()


def fenced(error: BaseException) -> bool:
    """Whether ``error`` or what caused it says another producer took this transactional id."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ProducerFenced, InvalidProducerEpoch)):
            return True
        seen = seen.__cause__
    return False
