"""Consumer lag per assigned partition, read from the worker's own aiokafka consumer (no broker call)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Gauge

from consumers.metrics import CONSUMER_LAG

POSITION_TIMEOUT_SECONDS = 1.0


async def partition_lags(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    """High watermark minus position for each assigned partition whose watermark is known yet."""
    lags = {}
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        if high is None:
            continue
        try:
            position = await asyncio.wait_for(consumer.position(tp), POSITION_TIMEOUT_SECONDS)
        except (TimeoutError, KafkaError, AssertionError, ValueError):
            continue  # revoked or resetting mid-rebalance: the next round sees the new assignment
        lags[tp] = max(0, int(high) - int(position))
    return lags


class LagExporter:
    """Sets ``gauge{topic,partition}`` (the workers': ``valuestream_worker_consumer_lag``); drops partitions
    no longer assigned."""

    def __init__(self, consumer: Callable[[], AIOKafkaConsumer | None], gauge: Gauge = CONSUMER_LAG) -> None:
        self.consumer = consumer
        self.gauge = gauge
        self.exported: set[TopicPartition] = set()

    async def export(self) -> dict[TopicPartition, int]:
        consumer = self.consumer()
        lags = {} if consumer is None else await partition_lags(consumer)
        for tp in self.exported - lags.keys():
            self.gauge.remove(tp.topic, str(tp.partition))
        for tp, lag in lags.items():
            self.gauge.labels(tp.topic, str(tp.partition)).set(lag)
        self.exported = set(lags)
        return lags
