"""Exactly-once delivery on the session's broker: a worker started with the index of a running one
fences it (the older stops itself), and the committed results topic holds each request once."""

from __future__ import annotations

from collections import Counter

import pytest

from infra.settings import Settings
from tests.conftest import StartWorker, isolated_settings
from tests.consumers.conftest import RedisView, as_message, create_job, produce, read_topic, requests_for, wait_until

pytestmark = pytest.mark.integration


def test_a_second_worker_of_the_same_index_fences_the_first(
    base_settings: Settings, champion: str, start_worker: StartWorker
) -> None:
    settings = isolated_settings(base_settings, delivery="exactly_once")
    view = RedisView(settings)
    total = 3_000
    create_job(settings, "fenced", total)
    requests = requests_for(total, "fenced", job_id="fenced")
    zombie = start_worker(settings, index=0)
    successor = start_worker(settings, index=0, wait=False)  # its producer's start bumps the shared id's epoch
    wait_until(lambda: "transactional_producer_ready" in successor.log.read_text(), 120, "second worker ready")
    produce(settings, [as_message(r) for r in requests])  # the group splits them: the first worker gets some

    wait_until(lambda: view.job_done("fenced", total), 180, "job complete")
    wait_until(lambda: zombie.process.poll() is not None, 60, "the fenced worker stops")
    assert "producer_fenced" in zombie.log.read_text()
    assert successor.process.poll() is None

    ids = [r.request_id for r in requests]
    assert view.answered(ids) == total
    records = read_topic(settings, settings.results_topic, total, timeout=60, isolation_level="read_committed")
    counts = Counter(r.key.decode() for r in records)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1, "a request is on the committed results topic twice"
