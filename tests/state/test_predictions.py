"""The results store against a real Redis: idempotent counters, queued never overwrites a result."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from infra.settings import Settings
from schemas import AnswerHead, ErrorInfo, ModelRef, PredictionRequest, PredictionResult, Timings, utc_now
from state import ANONYMOUS, State

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
        store = State.connect(
            base_settings.model_copy(update={"redis_prefix": f"t{uuid.uuid4().hex[:6]}", "result_ttl_seconds": 600})
        )
        try:
            await body(store)  # type: ignore[operator]
        finally:
            await store.close()

    asyncio.run(main())


def test_redelivered_results_count_once(base_settings: Settings) -> None:
    async def body(store: State) -> None:
        await store.jobs.create("j", 3, "batch", ANONYMOUS, utc_now())
        first = await store.predictions.save_results([done("a", "j", 0), done("b", "j", 1)])
        again = await store.predictions.save_results([done("a", "j", 0, price=210_000.0), done("b", "j", 1)])
        await store.predictions.save_results([failed("c", "j", 2)])
        job = await store.jobs.get("j")
        assert (first, again) == (2, 0)
        assert job is not None
        assert (job.done, job.failed, job.total) == (2, 1, 3)
        record = await store.predictions.get("a")
        assert record is not None
        assert record.price == 210_000.0
        assert await store.client.xlen(store.keys.feed) == 3

    run_with_store(base_settings, body)


def test_a_row_that_changes_outcome_moves_between_counters(base_settings: Settings) -> None:
    async def body(store: State) -> None:
        await store.jobs.create("j", 1, "batch", ANONYMOUS, utc_now())
        await store.predictions.save_results([failed("a", "j", 0)])
        await store.predictions.save_results([done("a", "j", 0)])
        job = await store.jobs.get("j")
        assert job is not None
        assert (job.done, job.failed) == (1, 0)

    run_with_store(base_settings, body)


def test_queued_never_overwrites_a_result(base_settings: Settings) -> None:
    async def body(store: State) -> None:
        await store.predictions.save_results([done("fast", None, None)])
        await store.predictions.mark_queued([PredictionRequest(request_id="fast", features=HOUSE)])  # type: ignore[arg-type]
        record = await store.predictions.get("fast")
        assert record is not None
        assert record.status == "done"
        assert await store.client.ttl(store.keys.prediction("fast")) > 0

    run_with_store(base_settings, body)


def test_heads_read_who_answered_and_the_price_of_each_stored_record(base_settings: Settings) -> None:
    async def body(store: State) -> None:
        answered = done("h1", None, None, price=187_500.0).model_copy(
            update={"model": ModelRef(name="m", version="4", variant="challenger")}
        )
        await store.predictions.save_results([answered])
        await store.predictions.mark_queued([PredictionRequest(request_id="h2", features=HOUSE)])  # type: ignore[arg-type]
        heads = await store.predictions.heads(["h1", "h2", "never-sent"])
        assert heads == [
            AnswerHead(status="done", price=187_500.0, model=ModelRef(name="m", version="4", variant="challenger")),
            AnswerHead(status="queued"),
            None,
        ]
        full = await store.predictions.get_many(["h1", "h2", "never-sent"])
        assert [None if r is None else (r.status, r.price, r.model) for r in full] == [
            None if h is None else (h.status, h.price, h.model) for h in heads
        ]

    run_with_store(base_settings, body)
