"""A redelivered request rewrites the same record and counts once; an answered id is not scored again."""

from __future__ import annotations

import json

import pytest

from infra.settings import Settings
from schemas import ErrorInfo, PredictionResult, Timings, utc_now
from state import ANONYMOUS, State
from state.keys import Keys
from tests.conftest import StartWorker
from tests.consumers.conftest import RedisView, as_message, create_job, produce, read_topic, requests_for, wait_until

pytestmark = pytest.mark.integration


def result(request_id: str, status: str, row: int, job_id: str = "job-1") -> PredictionResult:
    return PredictionResult(
        request_id=request_id,
        job_id=job_id,
        row=row,
        status=status,  # type: ignore[arg-type]
        price=200_000.0 if status == "done" else None,
        timings=Timings(submitted_at=utc_now(), scored_at=utc_now()),
        error=None if status == "done" else ErrorInfo(code="model_error", message="no"),
    )


async def test_store_counts_each_row_once_whatever_the_deliveries(settings: Settings) -> None:
    keys = Keys(settings.redis_prefix)
    store = State.connect(settings)
    client = store.client
    try:
        await store.jobs.create("job-1", 3, "batch", ANONYMOUS, utc_now())
        first = [result("a", "done", 0), result("b", "done", 1), result("c", "failed", 2)]
        assert await store.predictions.save_results(first) == 3
        assert await store.predictions.save_results(first) == 0  # redelivery of the whole batch
        assert await store.predictions.save_results([result("a", "done", 0)] * 3) == 0
        job = await store.jobs.get("job-1")
        assert job is not None
        assert (job.done, job.failed, job.total) == (2, 1, 3)
        assert await client.hlen(keys.job_results("job-1")) == 3
        assert await client.xlen(keys.feed) == 3  # the feed shows a result once

        # A later delivery with another outcome moves the row between counters, never adds one.
        assert await store.predictions.save_results([result("c", "done", 2)]) == 0
        job = await store.jobs.get("job-1")
        assert job is not None
        assert (job.done, job.failed) == (3, 0)
        stored = await store.predictions.get("c")
        assert stored is not None
        assert stored.status == "done"
        assert await client.ttl(keys.prediction("c")) > 0
        assert await client.ttl(keys.job("job-1")) > 0
    finally:
        await store.close()


def test_redelivered_and_repeated_ids_are_answered_from_redis(
    settings: Settings, start_worker: StartWorker, view: RedisView
) -> None:
    start_worker(settings)
    create_job(settings, "job-redelivered", 60)
    job = requests_for(60, "jr", job_id="job-redelivered")
    produce(settings, [as_message(r) for r in job])
    wait_until(lambda: view.job_done("job-redelivered", 60), 60, "first delivery answered")
    first = {r.request_id: r for r in view.results([r.request_id for r in job]) if r is not None}

    # The same messages again (a redelivery), and a client reusing an answered id with another house.
    again = requests_for(1, "jr", job_id="job-redelivered", seed=99)[0]
    assert again.features != job[0].features
    produce(settings, [as_message(r) for r in job] + [as_message(again)])
    replies = read_topic(settings, settings.results_topic, 121, timeout=60)
    assert len(replies) == 121

    job_hash = view.job("job-redelivered")
    assert (job_hash["done"], job_hash["failed"]) == ("60", "0")
    assert view.client.hlen(view.keys.job_results("job-redelivered")) == 60
    assert view.client.xlen(view.keys.feed) == 60
    now = {r.request_id: r for r in view.results(list(first)) if r is not None}
    assert now == first  # not scored again: same price, same scored_at
    by_id: dict[str, set[str]] = {}
    for record in replies:
        by_id.setdefault(record.key.decode(), set()).add(record.value.decode())
    assert all(len(bodies) == 1 for bodies in by_id.values())  # the repeat carries the stored answer
    assert json.loads(next(iter(by_id["jr-0"])))["price"] == first["jr-0"].price
