"""How far a consumer group is behind the requests topic, from the offsets it has committed.

A worker commits only after its results are stored, so a group at zero has scored and written every
message sent so far; the shadow scorer commits after each batch it has scored. Used by the tests
(the workers' group is drained before a store is scanned) and by ``bench/bench_shadow.py`` (the
shadow scorer has caught up before a phase is measured).
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from infra.settings import Settings


async def behind(settings: Settings, group: str) -> int:
    """Requests on the topic past ``group``'s committed offsets (all of a partition it never committed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.requests_topic, p) for p in range(settings.kafka_partitions)]
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group)
        return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


def drained(settings: Settings, group: str | None = None, timeout: float = 60.0) -> None:
    """Wait until ``group`` (the workers' by default) has committed every request on the topic."""
    group = settings.consumer_group if group is None else group
    deadline = time.monotonic() + timeout
    while (left := asyncio.run(behind(settings, group))) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"group {group} is still {left} requests behind after {timeout} s")
        time.sleep(0.2)
