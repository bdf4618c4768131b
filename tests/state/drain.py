"""Wait until the workers' group has committed every request on the topic: every message sent so
far has been scored and written (the worker commits only after its results are stored)."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from infra.settings import Settings


async def _behind(settings: Settings) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.requests_topic, p) for p in range(settings.kafka_partitions)]
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(settings.consumer_group)
        return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


def drained(settings: Settings, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (behind := asyncio.run(_behind(settings))) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workers are still {behind} requests behind after {timeout} s")
        time.sleep(0.2)
