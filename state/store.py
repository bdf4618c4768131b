"""``State``: the one handle on Redis, with a repository per kind of state.

Every process builds one (``State.connect(settings)``) and closes it on the way out. The
retention period (``result_ttl_seconds``) bounds every structure; erase lives with each kind.
"""

from __future__ import annotations

from redis.asyncio import Redis

from infra.settings import Settings
from state.calibration import CalibrationStore
from state.chunks import ChunkStore
from state.errors import guarded
from state.feed import Feed
from state.feedback import Feedback
from state.heartbeats import Heartbeats
from state.idempotency import Idempotency
from state.jobs import Jobs
from state.keys import Keys
from state.limits import RateLimitCounters
from state.predictions import Predictions
from state.rollout import Rollout


def create_client(redis_url: str) -> Redis:
    return Redis.from_url(
        redis_url,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=5.0,
        health_check_interval=15,
    )


class State:
    def __init__(self, client: Redis, prefix: str, ttl_seconds: int, feed_maxlen: int, redis_url: str) -> None:
        self.client = client
        self.keys = keys = Keys(prefix)
        self.ttl_seconds = ttl_seconds
        self.redis_url = redis_url
        self.feed = Feed(client, keys, ttl_seconds)
        self.predictions = Predictions(client, keys, ttl_seconds, self.feed, feed_maxlen)
        self.jobs = Jobs(client, keys, ttl_seconds, self.feed)
        self.chunks = ChunkStore(client, keys, ttl_seconds)
        self.idempotency = Idempotency(client, keys, ttl_seconds)
        self.feedback = Feedback(client, keys, ttl_seconds)
        self.heartbeats = Heartbeats(client, keys)
        self.calibration = CalibrationStore(client, keys, ttl_seconds)
        self.rollout = Rollout(client, keys, ttl_seconds)

    @classmethod
    def connect(cls, settings: Settings) -> State:
        """Lazily connected: the first command opens the connection (and may raise ``StoreUnavailableError``)."""
        return cls(
            create_client(settings.redis_url),
            settings.redis_prefix,
            settings.result_ttl_seconds,
            settings.feed_maxlen,
            settings.redis_url,
        )

    def rate_limits(self) -> RateLimitCounters:
        return RateLimitCounters(self.redis_url, self.keys)

    @guarded
    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
