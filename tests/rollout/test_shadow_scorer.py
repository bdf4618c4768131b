"""The shadow scorer's batch handling, without services: which records it scores, and how it waits for
the answers it compares with (the model work itself is ``VariantRouter.shadow``, tested on the real stack)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord
from prometheus_client import REGISTRY

from consumers.shadow import TIMED_EVERY, ShadowScorer
from consumers.variants import ShadowBatch, ShadowRun, VariantRouter, in_share
from infra.settings import Settings
from schemas import AnswerHead, ModelRef, PredictionRequest, utc_now
from schemas.chunks import RowChunk
from schemas.rollout import ShadowAnswer
from state.predictions import Predictions
from state.rollout import Rollout, Shadowed
from tests.records import consumer_record

HOUSE = {"gr_liv_area": 1500, "year_built": 1990, "neighborhood": "North_Ames"}
CHALLENGER = ModelRef(name="m", version="2", variant="challenger")


def record(offset: int, value: bytes, key: bytes | None = None) -> ConsumerRecord:
    return consumer_record(value, key, offset=offset)


def request(request_id: str, keyed: bool = False) -> ConsumerRecord:
    body = PredictionRequest.model_validate({"request_id": request_id, "features": HOUSE})
    return record(0, body.model_dump_json().encode(), request_id.encode() if keyed else None)


def answer(price: float) -> AnswerHead:
    return AnswerHead(status="done", price=price, model=ModelRef(name="m", version="1"))


class Router:
    """The challenger at 1.2 x the answered price, every request answered by the champion."""

    rollout_on = True

    def __init__(self) -> None:
        self.scored: list[str] = []
        self.timed: list[bool] = []

    def shadow(
        self, requests: Sequence[PredictionRequest], answers: Sequence[AnswerHead], *, timed: bool = True
    ) -> ShadowRun:
        self.scored += [r.request_id for r in requests]
        self.timed.append(timed)
        shadows = [
            ShadowAnswer(model=CHALLENGER, price=(a.price or 0) * 1.2, inference_ms=1.0, scored_at=utc_now())
            for a in answers
        ]
        ids = [r.request_id for r in requests]
        latency = 3.0 if timed else None
        return ShadowRun([ShadowBatch(CHALLENGER, ids, shadows, "1", "2", [20.0] * len(ids), latency)], 0)


class Store:
    """Answers that reach "Redis" only after ``late_reads`` reads; what the scorer stores."""

    def __init__(self, answers: dict[str, AnswerHead], late_reads: int) -> None:
        self.answers = answers
        self.late_reads = late_reads
        self.reads = 0
        self.saved: list[Shadowed] = []
        self.figures: list[tuple[dict[str, float], Any]] = []

    async def heads(self, request_ids: Sequence[str]) -> list[AnswerHead | None]:
        self.reads += 1
        return [self.answers.get(rid) if self.reads > self.late_reads else None for rid in request_ids]

    async def save_shadows(self, shadows: Sequence[Shadowed]) -> int:
        self.saved += shadows
        return len(shadows)

    async def record_batch(self, latencies: dict[str, float], differences: Any = None) -> None:
        self.figures.append((latencies, differences))


def scorer(store: Store, router: Router, wait: float, **settings: Any) -> ShadowScorer:
    """Every request shadowed unless a test sets another share."""
    return ShadowScorer(
        Settings(**({"shadow_share": 1.0} | settings)),
        cast(VariantRouter, router),
        cast(Predictions, store),
        cast(Rollout, store),
        answer_wait_seconds=wait,
    )


def test_a_late_answer_is_waited_for_and_bulk_chunks_and_bad_records_are_skipped() -> None:
    store, router = Store({"r1": answer(100_000)}, late_reads=2), Router()
    chunk = RowChunk(job_id="job1", chunk=0, first_row=0, rows=[HOUSE]).model_dump_json().encode()
    asyncio.run(scorer(store, router, 5.0).handle((request("r1"), record(1, chunk), record(2, b"not json"))))
    assert router.scored == ["r1"]
    assert store.reads == 3
    assert [s.request_id for s in store.saved] == ["r1"]
    assert store.saved[0].answer.price == pytest.approx(120_000)
    assert store.figures == [({"2": 3.0}, ("1", "2", [20.0]))]


def test_a_request_never_answered_is_skipped_after_the_wait() -> None:
    store, router = Store({"r2": answer(100_000)}, late_reads=0), Router()
    asyncio.run(scorer(store, router, 0.2).handle((request("r1"), request("r2"))))
    assert router.scored == ["r2"]
    assert store.reads >= 2  # r1 was read again before it was given up


def test_in_canary_mode_the_other_answer_is_stored_but_gives_no_latency_figure() -> None:
    store, router = Store({"r1": answer(100_000)}, late_reads=0), Router()
    asyncio.run(scorer(store, router, 1.0, rollout_mode="canary").handle((request("r1"),)))
    assert router.scored == ["r1"]
    # Stored so that a sale fed back values both versions on the same sale (the promotion guard's figures).
    assert [s.request_id for s in store.saved] == ["r1"]
    assert store.saved[0].answer.price == pytest.approx(120_000)
    assert store.figures == [({}, ("1", "2", [20.0]))]


def count(outcome: str) -> float:
    return REGISTRY.get_sample_value("valuestream_shadow_records_total", {"outcome": outcome}) or 0.0


def test_a_share_is_drawn_on_the_key_before_parsing_and_on_the_request_id_without_one() -> None:
    ids = [f"r{i}" for i in range(40)]
    drawn = {rid for rid in ids if in_share(rid, "shadow", 0.5)}
    assert 0 < len(drawn) < len(ids)
    store, router = Store({rid: answer(100_000) for rid in ids}, late_reads=0), Router()
    skipped = next(rid for rid in ids if rid not in drawn)
    records = (
        *(request(rid, keyed=i % 2 == 0) for i, rid in enumerate(ids)),
        record(99, b"not json", key=skipped.encode()),  # not drawn: never parsed, so not counted invalid
    )
    invalid, not_picked = count("invalid"), count("not_picked")
    asyncio.run(scorer(store, router, 1.0, shadow_share=0.5).handle(records))
    assert router.scored == [rid for rid in ids if rid in drawn]
    assert count("invalid") == invalid
    assert count("not_picked") - not_picked == len(ids) - len(drawn) + 1


def test_one_batch_in_ten_is_scored_at_full_detail_and_only_those_give_latency_figures() -> None:
    ids = [f"r{i}" for i in range(2 * TIMED_EVERY + 1)]
    store, router = Store({rid: answer(100_000) for rid in ids}, late_reads=0), Router()
    shadow = scorer(store, router, 1.0)
    for rid in ids:
        asyncio.run(shadow.handle((request(rid),)))
    assert router.scored == ids
    assert [i for i, timed in enumerate(router.timed) if timed] == [0, TIMED_EVERY, 2 * TIMED_EVERY]
    assert [latencies for latencies, _ in store.figures if latencies] == [{"2": 3.0}] * 3
    assert len(store.saved) == len(ids)  # every batch's answers are kept, timed or not
    assert all(differences == ("1", "2", [20.0]) for _, differences in store.figures)
