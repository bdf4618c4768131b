"""Shadow answers against a real Redis: saved in chunks of one script call, none for a request or job erased
after it was submitted, each with the retention; a scan of the whole prefix finds exactly those."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from infra.settings import Settings
from schemas import ModelRef, utc_now
from schemas.rollout import ShadowAnswer
from state.clock import epoch_ms
from state.keys import Keys
from state.rollout import SAVE_CHUNK, Rollout, Shadowed

pytestmark = pytest.mark.integration
CHALLENGER = ModelRef(name="m", version="2", variant="challenger")
TTL = 600


async def test_shadows_are_saved_in_chunks_except_those_erased_after_submission(base_settings: Settings) -> None:
    keys = Keys(f"t{uuid.uuid4().hex[:6]}")
    client = aioredis.Redis.from_url(base_settings.redis_url, decode_responses=True)
    submitted = utc_now() - timedelta(seconds=30)
    count = 2 * SAVE_CHUNK + 7  # three script calls, the last one short
    shadows = [
        Shadowed(
            f"r{i}",
            "job-a" if i in (70, 71) else None,
            submitted,
            ShadowAnswer(model=CHALLENGER, price=100_000.0 + i, inference_ms=1.0, scored_at=utc_now()),
        )
        for i in range(count)
    ]
    erased_after = epoch_ms(submitted + timedelta(seconds=5))
    erased_before = epoch_ms(submitted - timedelta(seconds=5))
    try:
        await client.set(keys.tombstone("r5"), erased_after)  # erased after it was submitted: not saved
        await client.set(keys.tombstone("r6"), erased_before)  # an id erased before, then reused: saved
        await client.set(keys.tombstone("job-a"), erased_after)  # its job erased: neither row saved
        stored = await Rollout(client, keys, TTL).save_shadows(shadows)

        expected = {f"r{i}" for i in range(count)} - {"r5", "r70", "r71"}
        assert stored == len(expected)
        found = {key.rsplit(":", 1)[1]: key async for key in client.scan_iter(f"{keys.prefix}:shadow:*")}
        assert set(found) == expected
        for request_id, key in found.items():
            raw = await client.get(key)
            assert raw is not None
            answer = ShadowAnswer.model_validate_json(raw)
            assert answer.price == 100_000.0 + int(request_id[1:])
            assert 0 < await client.ttl(key) <= TTL
    finally:
        async for key in client.scan_iter(f"{keys.prefix}:*"):
            await client.delete(key)
        await client.aclose()
