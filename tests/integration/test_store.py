"""The results store against a real Redis: idempotent counters, queued never overwrites a result."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from infra.settings import Settings
from infra.store import ResultStore
from schemas import ErrorInfo, PredictionRequest, PredictionResult, Timings, utc_now
from schemas.keys import RedisKeys

pytestmark = pytest.mark.integration
HOUSE = {"gr_liv_area": 1500, "year_built": 1990, "neighborhood": "Gilbert"}


def done(request_id: str, job_id: str | None, row: int | None, price: float = 200_000.0) -> PredictionResult:
    return PredictionResult(
        request_id=request_id,
        job_id=job_id,
        row=row,
        status="done",
        price=price,
        timings=Timings(submitted_at=utc_now()),
    )


def failed(request_id: str, job_id: str, row: int) -> PredictionResult:
    return PredictionResult(
        request_id=request_id,
        job_id=job_id,
        row=row,
        status="failed",
        timings=Timings(submitted_at=utc_now()),
        error=ErrorInfo(code="model_error", message="boom"),
    )


def run_with_store(base_settings: Settings, body: object) -> None:
    async def main() -> None:
        client = aioredis.Redis.from_url(base_settings.redis_url, decode_responses=True)
        store = ResultStore(client, RedisKeys(f"t{uuid.uuid4().hex[:6]}"), 600, 1000)
        try:
            await body(store)  # type: ignore[operator]
        finally:
            await client.aclose()

    asyncio.run(main())


def test_redelivered_results_count_once(base_settings: Settings) -> None:
    async def body(store: ResultStore) -> None:
        await store.create_job("j", total=3, source="batch", created_at=utc_now())
        first = await store.save_results([done("a", "j", 0), done("b", "j", 1)])
        again = await store.save_results([done("a", "j", 0, price=210_000.0), done("b", "j", 1)])
        await store.save_results([failed("c", "j", 2)])
        counters = await store.job_counters("j")
        assert (first, again) == (2, 0)
        assert (counters["done"], counters["failed"], counters["total"]) == ("2", "1", "3")
        record = await store.get("a")
        assert record is not None
        assert record.price == 210_000.0
        assert await store.client.xlen(store.keys.feed) == 3

    run_with_store(base_settings, body)


def test_a_row_that_changes_outcome_moves_between_counters(base_settings: Settings) -> None:
    async def body(store: ResultStore) -> None:
        await store.create_job("j", total=1, source="batch", created_at=utc_now())
        await store.save_results([failed("a", "j", 0)])
        await store.save_results([done("a", "j", 0)])
        counters = await store.job_counters("j")
        assert (counters["done"], counters["failed"]) == ("1", "0")

    run_with_store(base_settings, body)


def test_queued_never_overwrites_a_result(base_settings: Settings) -> None:
    async def body(store: ResultStore) -> None:
        await store.save_results([done("fast", None, None)])
        await store.mark_queued([PredictionRequest(request_id="fast", features=HOUSE)])  # type: ignore[arg-type]
        record = await store.get("fast")
        assert record is not None
        assert record.status == "done"
        assert await store.client.ttl(store.keys.prediction("fast")) > 0

    run_with_store(base_settings, body)
