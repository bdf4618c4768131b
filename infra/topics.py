"""Kafka topics an application may need to create itself (the local stack, a client's reply topic)."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from infra.settings import Settings


async def ensure_topics(
    bootstrap: str, topics: list[str], partitions: int, replication: int = 1, min_insync: int = 1
) -> None:
    """Create the topics that do not exist yet (idempotent), with ``replication`` replicas per partition,
    of which ``min_insync`` must hold a write before an acks=all producer hears it is confirmed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        configs = {"min.insync.replicas": str(min_insync)}
        missing = [
            NewTopic(t, num_partitions=partitions, replication_factor=replication, topic_configs=configs)
            for t in topics
            if t not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def ensure_settings_topics(settings: Settings, topics: list[str]) -> None:
    """``ensure_topics`` with the partitions, replication factor and min.insync.replicas of ``settings``."""
    await ensure_topics(
        settings.kafka_bootstrap,
        topics,
        settings.kafka_partitions,
        settings.kafka_replication_factor,
        settings.kafka_min_insync_replicas,
    )
