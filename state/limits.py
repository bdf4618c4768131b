"""Rate-limit counters in Redis (``limits``, fixed window), shared by every API replica.

A limit that cannot be checked because Redis is away raises ``StoreUnavailableError``; the
caller decides whether to fail open.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError

from state.errors import UNAVAILABLE, unavailable
from state.keys import Keys


class RateLimitCounters:
    def __init__(self, redis_url: str, keys: Keys) -> None:
        self.storage = RedisStorage(
            "async+" + redis_url, implementation="redispy", key_prefix=keys.rate_limit_namespace, socket_timeout=2.0
        )
        self.limiter = FixedWindowRateLimiter(self.storage)

    async def hit(self, item: RateLimitItem, identity: str) -> int | None:
        """Count one hit; None if allowed, else the seconds until the window resets."""
        try:
            if await self.limiter.hit(item, identity):
                return None
            stats = await self.limiter.get_window_stats(item, identity)
        except (*UNAVAILABLE, RedisError) as exc:
            raise unavailable(exc) from exc
        return max(1, math.ceil(stats.reset_time - time.time()))
