"""Bulk answers in Redis against a real server: compact, counted once per chunk, erased with the job."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest

from infra.settings import Settings
from schemas import ErrorInfo, ModelRef, utc_now
from schemas.chunks import ChunkResult, RowOutcome
from schemas.valuation import Comparable, Contribution
from state import ANONYMOUS, State
from state.chunks import ChunkAnswer
from tests.state.test_predictions import run_with_store

pytestmark = pytest.mark.integration
ROWS = 250
MAX_BYTES_PER_ROW = 300


def outcome(row: int, full: bool = False) -> RowOutcome:
    if row % 97 == 5:
        message = "gr_liv_area: Input should be greater than or equal to 200"
        return RowOutcome(row=row, status="failed", error=ErrorInfo(code="invalid_features", message=message))
    price = 150_000 + row * 13.37
    detail: dict[str, Any] = {}
    if full:
        detail["contributions"] = [Contribution(feature="gr_liv_area", value=12_400.5)]
        detail["comparables"] = [
            Comparable(
                price=172_000,
                distance_km=0.4,
                sold=date(2009, 5, 1),
                neighborhood="North_Ames",
                gr_liv_area=1540,
                year_built=1962,
                longitude=-93.6,
                latitude=42.0,
            )
        ]
    return RowOutcome(
        row=row,
        status="done",
        price=price,
        lower_80=price * 0.88123456,
        upper_80=price * 1.13456789,
        lower_90=price * 0.84123456,
        upper_90=price * 1.18456789,
        fsd=0.0834,
        confidence=0.9166,
        confidence_band="High",
        in_domain=row % 50 != 0,
        flags=[] if row % 50 else ["gr_liv_area 5,100 is above every training sale (largest 3,820)"],
        months_beyond_data=0,
        **detail,
    )


def chunk(job_id: str, index: int, rows: int = ROWS, full: bool = False, shift: int = 0) -> ChunkResult:
    first = index * rows
    now = utc_now()
    return ChunkResult(
        job_id=job_id,
        chunk=index,
        first_row=first,
        source="file",
        model=ModelRef(name="valuestream-price", version="3"),
        submitted_at=now - timedelta(seconds=1),
        scored_at=now,
        rows=[outcome(first + i + shift, full).model_copy(update={"row": first + i}) for i in range(rows)],
    )


def answered(job_id: str, index: int, rows: int = ROWS, full: bool = False, shift: int = 0) -> ChunkAnswer:
    """``chunk`` as the worker keeps it."""
    return ChunkAnswer.of(chunk(job_id, index, rows, full, shift))


def test_a_chunk_answer_on_the_results_topic_says_what_its_rows_said_to_the_cent() -> None:
    """The worker publishes a chunk's answer from its stored cells: the message is a ``ChunkResult``
    whose rows are the answers, prices to the cent, at both details."""
    for full in (False, True):
        result = chunk("j", 2, full=full)
        published = ChunkResult.model_validate_json(ChunkAnswer.of(result).message())
        assert published.model_dump(exclude={"rows"}) == result.model_dump(exclude={"rows"})
        assert published.counts == result.counts
        for got, want in zip(published.rows, result.rows, strict=True):
            prices = ("price", "lower_80", "upper_80", "lower_90", "upper_90")
            assert got.model_dump(exclude=set(prices)) == want.model_dump(exclude=set(prices))
            for name in prices:
                value = getattr(want, name)
                assert getattr(got, name) == (None if value is None else round(value, 2))


def test_a_chunk_scored_twice_counts_once_and_reads_back_in_order(base_settings: Settings) -> None:
    async def body(store: State) -> None:
        await store.jobs.create("j", 3 * ROWS, "file", ANONYMOUS, utc_now(), chunk_rows=ROWS)
        first = await store.chunks.save([answered("j", 1), answered("j", 0)])
        again = await store.chunks.save([answered("j", 1)])
        job = await store.jobs.get("j")
        assert job is not None
        failed = sum(1 for r in range(2 * ROWS) if r % 97 == 5)
        assert (first, again, job.done, job.failed) == (2, 0, 2 * ROWS - failed, failed)
        found = await store.chunks.read("j", [0, 1, 2])
        assert found[2] is None
        for index, stored in enumerate(found[:2]):
            assert stored is not None
            assert stored.model_version == "3"
            expected = chunk("j", index).rows
            assert [r.row for r in stored.rows] == [r.row for r in expected]
            for got, want in zip(stored.rows, expected, strict=True):
                assert got.status == want.status
                assert got.error == want.error
                assert got.flags == want.flags
                assert got.price == pytest.approx(want.price, abs=0.005)
                assert got.upper_90 == pytest.approx(want.upper_90, abs=0.005)
                assert (got.confidence_band, got.in_domain, got.contributions) == (
                    want.confidence_band,
                    want.in_domain,
                    None,
                )

    run_with_store(base_settings, body)


def test_a_rescored_chunk_with_other_outcomes_moves_the_counters_by_the_difference(base_settings: Settings) -> None:
    async def body(store: State) -> None:
        await store.jobs.create("j", ROWS, "file", ANONYMOUS, utc_now(), chunk_rows=ROWS)
        await store.chunks.save([answered("j", 0)])
        await store.chunks.save([answered("j", 0, shift=3)])  # another model version fails other rows
        job = await store.jobs.get("j")
        assert job is not None
        failed = sum(1 for r in range(3, ROWS + 3) if r % 97 == 5)
        assert (job.done, job.failed) == (ROWS - failed, failed)

    run_with_store(base_settings, body)


def test_summary_rows_stay_under_300_bytes_of_redis_and_detail_is_kept_only_when_asked(
    base_settings: Settings,
) -> None:
    async def body(store: State) -> None:
        chunks = 8
        await store.jobs.create("s", chunks * ROWS, "file", ANONYMOUS, utc_now(), chunk_rows=ROWS)
        await store.chunks.save([answered("s", i) for i in range(chunks)])
        await store.chunks.mark_sent("s", list(range(chunks)))
        used = 0
        for key in (store.keys.job_chunks("s"), store.keys.job_sent("s"), store.keys.job("s")):
            used += int(await store.client.memory_usage(key) or 0)
            assert 0 < await store.client.ttl(key) <= store.ttl_seconds
        assert used / (chunks * ROWS) <= MAX_BYTES_PER_ROW, f"{used / (chunks * ROWS):.0f} B per row"

        await store.jobs.create("f", ROWS, "file", ANONYMOUS, utc_now(), chunk_rows=ROWS)
        await store.chunks.save([answered("f", 0, full=True)])
        (full,) = await store.chunks.read("f", [0])
        (summary,) = await store.chunks.read("s", [0])
        assert full is not None
        assert summary is not None
        assert full.rows[0].contributions == [Contribution(feature="gr_liv_area", value=12_400.5)]
        assert full.rows[0].comparables is not None
        assert full.rows[0].comparables[0].price == 172_000
        assert summary.rows[0].contributions is None

    run_with_store(base_settings, body)


def test_an_erased_job_drops_chunks_still_on_their_way_and_leaves_no_key(base_settings: Settings) -> None:
    async def body(store: State) -> None:
        await store.jobs.create("bye", 2 * ROWS, "file", ANONYMOUS, utc_now(), chunk_rows=ROWS)
        late = answered("bye", 1)  # submitted before the erase, scored after it
        await store.chunks.save([answered("bye", 0)])
        await store.chunks.mark_sent("bye", [0, 1])
        await asyncio.sleep(0.01)
        await store.jobs.erase("bye", 2 * ROWS, per_row_keys=False)
        assert await store.chunks.save([late]) == 0
        await store.chunks.mark_sent("bye", [1])  # an upload still sending when the erase came
        left = [k async for k in store.client.scan_iter(match=f"{store.keys.prefix}:*bye*")]
        assert left == []
        assert await store.jobs.get("bye") is None
        assert await store.chunks.sent("bye") == set()

    run_with_store(base_settings, body)
