"""Redis client factory."""

from __future__ import annotations

from redis.asyncio import Redis

from infra.settings import Settings


def create_redis(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=5.0,
        health_check_interval=15,
    )
