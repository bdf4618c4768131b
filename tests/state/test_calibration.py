"""The recalibration state against a real Redis: concurrent feedback loses no step, terms are clipped."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from infra.recalibration import BOUND, Tracker, term
from infra.settings import Settings
from schemas.calibration import Segment
from state.calibration import CalibrationStore
from state.keys import Keys

pytestmark = pytest.mark.integration
NEW_LOW = Segment(construction="new", grade="low", price="low")
OLD_HIGH = Segment(construction="existing", grade="high", price="high")


async def test_concurrent_updates_from_two_clients_add_up(base_settings: Settings) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}"
    clients = [aioredis.Redis.from_url(base_settings.redis_url, decode_responses=True) for _ in range(2)]
    stores = [CalibrationStore(client, Keys(prefix), 600) for client in clients]
    sales = [(NEW_LOW if i % 3 else OLD_HIGH, {0.8: i % 4 == 0, 0.9: i % 7 == 0}) for i in range(300)]
    expected = Tracker(learning_rate=0.01)
    for segment, missed in sales:
        expected.observe(segment, missed)
    in_flight = asyncio.Semaphore(32)  # each client's pool holds a bounded number of connections

    async def feed_back(i: int, segment: Segment, missed: dict[float, bool]) -> None:
        async with in_flight:
            await stores[i % 2].observe("7", segment, missed, 0.01)

    try:
        await asyncio.gather(*(feed_back(i, segment, missed) for i, (segment, missed) in enumerate(sales)))
        state = await stores[0].public("7", 0.01, (140_000.0, 195_000.0))
        started = await stores[0].public("7", 0.01, (140_000.0, 195_000.0), {term(0.9, "grade", "low"): 0.25})
        adjustments = await stores[1].adjustments("7")
        assert await stores[0].versions() == ["7"]
        assert await stores[0].adjustments("8") == type(adjustments)({})
    finally:
        for client in clients:
            await client.aclose()
    assert adjustments.log_factors == pytest.approx(expected.log_factors)
    by_term = {term(s.level, s.grouping, s.band): s for s in state.segments}
    assert len(by_term) == 2 * (2 + 4 + 3)
    for name, sales_count in expected.sales.items():
        assert (by_term[name].sales, by_term[name].missed) == (sales_count, expected.missed[name])
        assert by_term[name].log_factor == pytest.approx(expected.log_factors[name])
    assert by_term[term(0.9, "grade", "mid")].sales == 0
    # The start the model's intervals carry is shown beside the live terms, which it leaves as they are.
    assert {term(s.level, s.grouping, s.band): s.start_log_factor for s in started.segments if s.start_log_factor} == {
        term(0.9, "grade", "low"): 0.25
    }
    assert [s.log_factor for s in started.segments] == [s.log_factor for s in state.segments]


async def test_terms_are_clipped_in_redis_as_in_memory(base_settings: Settings) -> None:
    client = aioredis.Redis.from_url(base_settings.redis_url, decode_responses=True)
    store = CalibrationStore(client, Keys(f"t{uuid.uuid4().hex[:6]}"), 600)
    try:
        for _ in range(10):
            await store.observe("1", NEW_LOW, {0.9: True}, 0.5)
        for _ in range(30):
            await store.observe("1", OLD_HIGH, {0.9: False}, 0.5)
        factors = (await store.adjustments("1")).log_factors
        ttl = await client.ttl(store.keys.calibration("1"))
    finally:
        await client.aclose()
    assert factors[term(0.9, "construction", "new")] == pytest.approx(BOUND)
    assert factors[term(0.9, "construction", "existing")] == pytest.approx(-BOUND)
    assert 0 < ttl <= 600  # renewed by every sale, gone after the retention period without feedback
