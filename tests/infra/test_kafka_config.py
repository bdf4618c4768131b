"""Kafka's node configuration fits the heaps the stack gives its nodes."""

from __future__ import annotations

from pathlib import Path

from infra import stack
from tests.cluster.conftest import HEAP as CLUSTER_HEAP

KAFKA_DEFAULT_DEDUPE_BYTES = 128 * 1024 * 1024


def heap_bytes(heap: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(heap[:-1]) * units[heap[-1].lower()]


def test_the_log_cleaner_map_is_a_small_share_of_the_smallest_heap(tmp_path: Path) -> None:
    """The cleaner allocates its dedupe map in one piece at startup; at Kafka's default it took half of a
    256 MiB heap and a cluster node died with OutOfMemoryError on a fresh machine."""
    text = stack.kafka_properties(tmp_path, 9092, 9093, 6, node_id=2, voters="1@a:1,2@b:2,3@c:3", replication=3)
    properties = dict(line.split("=", 1) for line in text.splitlines() if line)
    dedupe = int(properties["log.cleaner.dedupe.buffer.size"])
    assert dedupe < KAFKA_DEFAULT_DEDUPE_BYTES
    assert dedupe * 8 <= heap_bytes(CLUSTER_HEAP)
