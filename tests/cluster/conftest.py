"""The three-broker tier: a KRaft cluster of three nodes (replication factor 3, min.insync.replicas=2).

Started once per session from the same Maven-fetched jars as the single broker, with small heaps;
if it cannot start, every test of the tier errors with the nodes' logs. Redis is the session's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import stack
from infra.cluster import KafkaCluster, start_cluster
from infra.settings import Settings
from tests.conftest import CACHE, say

BROKERS = 3
HEAP = "256m"


@pytest.fixture(scope="session")
def kafka_cluster(stack_dir: Path, pytestconfig: pytest.Config) -> Iterator[KafkaCluster]:
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    cluster = start_cluster(stack_dir / "cluster", BROKERS, partitions=6, cache_dir=CACHE, heap=HEAP)
    took = time.monotonic() - started
    say(pytestconfig, f"\n[stack] Kafka cluster of {BROKERS} up on {cluster.bootstrap} in {took:.1f} s")
    yield cluster
    cluster.stop()
    say(pytestconfig, "[stack] Kafka cluster stopped")


@pytest.fixture(scope="session")
def cluster_base(
    kafka_cluster: KafkaCluster, base_settings: Settings, champion: str, redis_service: stack.Service
) -> Settings:
    """The session's settings (Redis, MLflow with its champion) pointed at the cluster."""
    return base_settings.model_copy(
        update={
            "kafka_bootstrap": kafka_cluster.bootstrap,
            "kafka_replication_factor": BROKERS,
            "kafka_min_insync_replicas": 2,
        }
    )


@pytest.fixture
def fault_requests(pytestconfig: pytest.Config) -> int:
    return int(pytestconfig.getoption("--fault-requests"))
