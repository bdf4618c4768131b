"""Helpers of the worker tests: produce straight to Kafka, read topics back, stop and restart Redis."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from infra import stack
from infra.settings import Settings
from schemas import NEIGHBORHOODS, PredictionRequest, PredictionResult, PropertyFeatures, utc_now
from state import ANONYMOUS, State
from state.keys import Keys

Message = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def house(rng: random.Random) -> PropertyFeatures:
    return PropertyFeatures(
        gr_liv_area=rng.randint(700, 3200),
        year_built=rng.randint(1900, 2008),
        neighborhood=rng.choice(NEIGHBORHOODS),  # type: ignore[arg-type]
        lot_area=rng.randint(2000, 30000),
        bedrooms=rng.randint(1, 5),
        full_bath=rng.randint(1, 3),
        garage_cars=rng.randint(0, 3),
    )


def requests_for(count: int, prefix: str, job_id: str | None = None, seed: int = 7) -> list[PredictionRequest]:
    rng = random.Random(seed)
    return [
        PredictionRequest(
            request_id=f"{prefix}-{i}",
            job_id=job_id,
            row=i if job_id else None,
            source="batch" if job_id else "kafka",
            features=house(rng),
        )
        for i in range(count)
    ]


def create_job(settings: Settings, job_id: str, total: int) -> None:
    async def run() -> None:
        store = State.connect(settings)
        try:
            await store.jobs.create(job_id, total, "batch", ANONYMOUS, utc_now())
        finally:
            await store.close()

    asyncio.run(run())


def as_message(request: PredictionRequest, headers: Sequence[tuple[str, bytes]] = ()) -> Message:
    return request.request_id.encode(), request.model_dump_json().encode(), list(headers)


def group_consumer(settings: Settings) -> AIOKafkaConsumer:
    """A consumer in the settings' worker group, committing by hand, from the start of the topic (not subscribed)."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        group_id=settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )


def produce(
    settings: Settings, messages: Sequence[Message], topic: str | None = None, partition: int | None = None
) -> None:
    """Produce with acks=all and wait for every ack (to ``partition`` if given, else by key)."""

    async def run() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_servers, acks="all", linger_ms=5, max_batch_size=256 * 1024
        )
        await producer.start()
        try:
            pending = [
                await producer.send(
                    topic or settings.requests_topic, value, key=key, headers=headers, partition=partition
                )
                for key, value, headers in messages
            ]
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    asyncio.run(run())


def read_topic(
    settings: Settings, topic: str, expected: int, timeout: float = 60.0, isolation_level: str = "read_uncommitted"
) -> list[ConsumerRecord[Any, Any]]:
    """Every record of ``topic`` from the start (no group), once ``expected`` are there or the time is up.

    ``read_committed``: only records of committed transactions (and every non-transactional one)."""

    async def run() -> list[ConsumerRecord[Any, Any]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_servers, enable_auto_commit=False, isolation_level=isolation_level
        )
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            records: list[ConsumerRecord[Any, Any]] = []
            deadline = time.monotonic() + timeout

            async def drained() -> bool:
                # Redeliveries repeat records: a count alone can be reached before every partition is read.
                ends = await consumer.end_offsets(partitions)
                for tp, end in ends.items():
                    if await consumer.position(tp) < end:
                        return False
                return True

            while time.monotonic() < deadline and (len(records) < expected or not await drained()):
                batch = await consumer.getmany(timeout_ms=500)
                for items in batch.values():
                    records.extend(items)
            return records
        finally:
            await consumer.stop()

    return asyncio.run(run())


def wait_until(condition: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        time.sleep(0.2)


@dataclass
class RedisView:
    """Synchronous reads of one test's Redis keys."""

    settings: Settings
    client: redis.Redis = field(init=False)
    keys: Keys = field(init=False)

    def __post_init__(self) -> None:
        self.client = redis.Redis.from_url(self.settings.redis_url, decode_responses=True)
        self.keys = Keys(self.settings.redis_prefix)

    def results(self, request_ids: Sequence[str]) -> list[PredictionResult | None]:
        found: list[PredictionResult | None] = []
        for start in range(0, len(request_ids), 1000):
            chunk = [self.keys.prediction(r) for r in request_ids[start : start + 1000]]
            found.extend(
                None if raw is None else PredictionResult.model_validate_json(raw) for raw in self.client.mget(chunk)
            )
        return found

    def answered(self, request_ids: Sequence[str]) -> int:
        return sum(r is not None and r.status != "queued" for r in self.results(request_ids))

    def job(self, job_id: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.client.hgetall(self.keys.job(job_id)).items()}

    def job_done(self, job_id: str, total: int) -> bool:
        try:
            job = self.job(job_id)
        except redis.ConnectionError:
            return False
        return int(job.get("done", 0)) + int(job.get("failed", 0)) >= total


class RedisControl:
    """Stops the session's Redis and starts it again on the same port and data folder (AOF kept)."""

    def __init__(self, original: stack.Service, state_dir: Path) -> None:
        self.current = original
        self.state_dir = state_dir
        self.restarted: list[stack.Service] = []

    def stop(self) -> None:
        self.current.stop()

    def start(self) -> None:
        if stack.redis_ready(self.current.port):
            return
        self.current = stack.start_redis(self.state_dir, self.current.port)
        self.restarted.append(self.current)


@pytest.fixture(scope="session")
def redis_control(redis_service: stack.Service, stack_dir: Path) -> Iterator[RedisControl]:
    control = RedisControl(redis_service, stack_dir)
    yield control
    for service in control.restarted:
        service.stop()


@pytest.fixture
def redis_outage(redis_control: RedisControl) -> Iterator[RedisControl]:
    """The test may stop Redis; whatever happens, a Redis answers on the session's port afterwards."""
    yield redis_control
    redis_control.start()


@pytest.fixture
def view(settings: Settings) -> RedisView:
    return RedisView(settings)
