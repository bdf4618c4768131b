"""The promotion guard's figures against a real Redis: both versions judged on the same sales, per pair of
versions and in that order, the newest ``WINDOW`` kept, every key with the retention."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from infra.settings import Settings
from state.keys import Keys
from state.rollout import WINDOW, Rollout
from tests.state.keyspace import everything

pytestmark = pytest.mark.integration
TTL = 600


async def test_paired_sales_give_both_versions_figures_on_the_same_sales(base_settings: Settings) -> None:
    keys = Keys(f"t{uuid.uuid4().hex[:6]}")
    client = aioredis.Redis.from_url(base_settings.redis_url, decode_responses=True)
    rollout = Rollout(client, keys, TTL)
    try:
        # The champion's own window holds sales from before the challenger (an error of 50 % each).
        for _ in range(30):
            await rollout.observe_sale("1", (50.0, False, False))
        sales = WINDOW + 20  # the oldest 20 fall out of the window
        for i in range(sales):
            old = i < 20
            champion = (99.0 if old else 8.0, False, not old)
            challenger = (99.0 if old else 4.0 + (i % 2), True, True)
            await rollout.observe_pair(("1", "2"), champion, challenger)
        await rollout.observe_pair(("2", "1"), (1.0, True, True), (30.0, False, False))  # another pair of versions

        paired = await rollout.paired("1", "2")
        assert (paired.champion.version, paired.challenger.version) == ("1", "2")
        assert paired.champion.sales == paired.challenger.sales == WINDOW
        assert paired.champion.total == paired.challenger.total == sales
        assert paired.champion.median_abs_pct_error == pytest.approx(8.0)
        assert paired.challenger.median_abs_pct_error == pytest.approx(4.5)
        assert (paired.champion.within_10pct, paired.challenger.within_10pct) == (0.0, 1.0)
        assert (paired.champion.interval_coverage, paired.challenger.interval_coverage) == (1.0, 1.0)
        # The champion's figures over its own window are another matter: the guard does not read them.
        assert (await rollout.accuracy("1")).median_abs_pct_error == pytest.approx(50.0)

        reversed_pair = await rollout.paired("2", "1")
        assert reversed_pair.champion.sales == 1
        assert reversed_pair.challenger.median_abs_pct_error == pytest.approx(30.0)
        assert (await rollout.paired("1", "3")).champion.sales == 0

        found = list(everything(base_settings.redis_url, keys.prefix))
        paired_keys = {f.key for f in found if ":fbpair:" in f.key}
        assert paired_keys == {
            keys.paired_feedback("1", "2"),
            keys.paired_feedback("2", "1"),
            keys.paired_feedback_totals,
        }
        assert all(0 < f.ttl <= TTL for f in found)
    finally:
        async for key in client.scan_iter(f"{keys.prefix}:*"):
            await client.delete(key)
        await client.aclose()
