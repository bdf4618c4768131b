"""Faults against real processes: SIGKILLed workers, Redis away, a worker leaving its group mid-stream.

After each, the result set equals the input set and nothing is counted twice.
"""

from __future__ import annotations

import pytest

from infra.settings import Settings
from tests.conftest import StartWorker, WorkerProcess, isolated_settings
from tests.consumers.conftest import (
    RedisControl,
    RedisView,
    as_message,
    create_job,
    produce,
    read_topic,
    requests_for,
    wait_until,
)

pytestmark = pytest.mark.integration


def done_count(view: RedisView, job_id: str) -> int:
    return int(view.job(job_id).get("done", 0))


def assert_exactly_once(view: RedisView, job_id: str, ids: list[str]) -> None:
    job = view.job(job_id)
    assert (int(job["done"]), int(job["failed"]), int(job["total"])) == (len(ids), 0, len(ids))
    assert view.client.hlen(view.keys.job_results(job_id)) == len(ids)
    assert view.answered(ids) == len(ids)


@pytest.mark.slow
def test_sigkill_twice_loses_nothing_and_counts_nothing_twice(
    base_settings: Settings, champion: str, start_worker: StartWorker
) -> None:
    settings = isolated_settings(base_settings, feed_maxlen=100_000)
    view = RedisView(settings)
    total = 20_000
    create_job(settings, "big", total)
    requests = requests_for(total, "big", job_id="big")
    produce(settings, [as_message(r) for r in requests])

    first = start_worker(settings)
    wait_until(lambda: done_count(view, "big") >= 2_000, 120, "first worker progress")
    first.kill()
    killed_at = done_count(view, "big")
    second = start_worker(settings)
    wait_until(lambda: done_count(view, "big") >= killed_at + 4_000, 120, "second worker progress")
    second.kill()
    assert done_count(view, "big") < total, "the stream ended before the second kill: test proves nothing"
    start_worker(settings)
    wait_until(lambda: view.job_done("big", total), 240, "job complete")

    ids = [r.request_id for r in requests]
    assert_exactly_once(view, "big", ids)
    assert view.client.xlen(view.keys.feed) == total  # the feed shows each request once
    published = read_topic(settings, settings.results_topic, total, timeout=60)
    assert {r.key.decode() for r in published} == set(ids)  # redeliveries may repeat, never miss


@pytest.mark.slow
def test_redis_outage_is_waited_out(
    settings: Settings, start_worker: StartWorker, view: RedisView, redis_outage: RedisControl
) -> None:
    total = 4_000
    create_job(settings, "outage", total)
    requests = requests_for(total, "outage", job_id="outage")
    worker = start_worker(settings)
    produce(settings, [as_message(r) for r in requests[:1_000]])
    wait_until(lambda: done_count(view, "outage") >= 1_000, 60, "first part scored")

    redis_outage.stop()
    produce(settings, [as_message(r) for r in requests[1_000:]])
    wait_until(lambda: "transient_fault" in worker.log.read_text(), 60, "worker notices the outage")
    assert worker.process.poll() is None, "the worker crashed instead of backing off"
    redis_outage.start()

    wait_until(lambda: view.job_done("outage", total), 120, "job complete after Redis is back")
    assert worker.process.poll() is None
    assert_exactly_once(view, "outage", [r.request_id for r in requests])


def test_a_stopped_worker_hands_its_partitions_over(
    settings: Settings, start_worker: StartWorker, view: RedisView
) -> None:
    total = 12_000
    create_job(settings, "shared", total)
    requests = requests_for(total, "shared", job_id="shared")
    leaving = start_worker(settings, index=0, wait=False)
    staying = start_worker(settings, index=1, wait=False)
    leaving.wait_ready()
    staying.wait_ready()
    # Both hold partitions before the stream starts, so the stop really hands some over mid-stream.
    wait_until(lambda: holds_partitions(leaving) and holds_partitions(staying), 60, "both workers assigned")
    produce(settings, [as_message(r) for r in requests])
    wait_until(lambda: done_count(view, "shared") >= 1_000, 60, "both workers consuming")
    leaving.stop()
    assert done_count(view, "shared") < total, "the stream ended before the stop: test proves nothing"

    wait_until(lambda: view.job_done("shared", total), 120, "job complete")
    assert staying.process.poll() is None
    assert_exactly_once(view, "shared", [r.request_id for r in requests])


def holds_partitions(worker: WorkerProcess) -> bool:
    return "assigned to partitions: (TopicPartition" in worker.log.read_text()
