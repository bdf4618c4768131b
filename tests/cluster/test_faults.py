"""Faults on a three-broker cluster, in the style of Kafka's transactions system test: the broker that
leads most partitions SIGKILLed mid-stream and restarted, a worker SIGKILLed twice, and both at once.

Each streams ``--fault-requests`` requests (20,000 by default) through
one worker. Afterwards Redis holds every answer, counted once, and a ``read_committed`` read of the
results topic holds each request exactly once in exactly-once mode (at least once, with identical
copies, in at-least-once mode). While the broker is away, ``POST /predict`` answers 202 (200 if
already answered) or 503, never 500, and every request it accepted is scored and on the results topic.
"""

from __future__ import annotations

import pytest

from infra.cluster import KafkaCluster
from infra.settings import Settings
from tests.cluster.support import (
    Delivery,
    assert_api_held,
    check_outcome,
    done_count,
    fault_settings,
    kill_busiest_leader,
    posting,
    progressed,
    stream,
)
from tests.conftest import StartWorker
from tests.consumers.conftest import RedisView, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]


def test_the_busiest_leader_sigkilled_mid_stream_then_restarted(
    cluster_base: Settings,
    kafka_cluster: KafkaCluster,
    start_worker: StartWorker,
    fault_requests: int,
) -> None:
    settings = fault_settings(cluster_base, "exactly_once")
    view = RedisView(settings)
    start_worker(settings)

    with posting(settings) as posts:  # the API posts from before the stream until after the restart
        ids = stream(settings, fault_requests)
        progressed(view, fault_requests // 10)
        node = kill_busiest_leader(kafka_cluster, settings)
        assert done_count(view) < fault_requests, "the stream ended before the kill: the test proves nothing"
        # The cluster fences the dead node and moves its leaderships; the stream goes on meanwhile.
        at_kill = len(posts.accepted)
        wait_until(lambda: len(posts.accepted) >= at_kill + 20, 120, "the API accepting again without the node")
        kafka_cluster.restart(node)
        accepted_before_end = len(posts.accepted)
        wait_until(lambda: len(posts.accepted) >= accepted_before_end + 20, 120, "the API accepting after restart")

    assert_api_held(posts)
    check_outcome(settings, view, ids, "exactly_once", posts)


def test_a_worker_sigkilled_twice(cluster_base: Settings, start_worker: StartWorker, fault_requests: int) -> None:
    settings = fault_settings(cluster_base, "exactly_once")
    view = RedisView(settings)
    ids = stream(settings, fault_requests)

    first = start_worker(settings)
    killed_at = progressed(view, fault_requests // 10)
    first.kill()  # its open transaction is aborted when the next worker of index 0 starts (fencing)
    second = start_worker(settings)
    progressed(view, killed_at + fault_requests // 5)
    second.kill()
    assert done_count(view) < fault_requests, "the stream ended before the second kill: the test proves nothing"
    start_worker(settings)

    check_outcome(settings, view, ids, "exactly_once")


@pytest.mark.parametrize("delivery", ["exactly_once", "at_least_once"])
def test_a_worker_and_the_busiest_leader_sigkilled_at_once(
    cluster_base: Settings,
    kafka_cluster: KafkaCluster,
    start_worker: StartWorker,
    fault_requests: int,
    delivery: Delivery,
) -> None:
    settings = fault_settings(cluster_base, delivery)
    view = RedisView(settings)
    first = start_worker(settings)

    with posting(settings) as posts:
        ids = stream(settings, fault_requests)
        progressed(view, fault_requests // 10)
        first.kill()
        node = kill_busiest_leader(kafka_cluster, settings)
        assert done_count(view) < fault_requests, "the stream ended before the kills: the test proves nothing"
        start_worker(settings)  # starts and fences its predecessor while a broker is still away
        kafka_cluster.restart(node)
        accepted = len(posts.accepted)
        wait_until(lambda: len(posts.accepted) >= accepted + 20, 120, "the API accepting after the restart")

    assert_api_held(posts)
    check_outcome(settings, view, ids, delivery, posts)
