"""``Idempotency-Key`` bindings: the first id answered for a (client, key) pair answers every retry."""

from __future__ import annotations

from redis.asyncio import Redis

from state.errors import guarded
from state.keys import Keys


class Idempotency:
    def __init__(self, client: Redis, keys: Keys, ttl_seconds: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_seconds = ttl_seconds

    @guarded
    async def claim(self, owner: str, key: str | None, candidate: str) -> str:
        """The id bound to ``key`` (binding ``candidate`` if the key is new, SET NX)."""
        if key is None:
            return candidate
        name = self.keys.idempotency(owner, key)
        if await self.client.set(name, candidate, nx=True, ex=self.ttl_seconds):
            await self.client.set(self.keys.idempotency_of(candidate), name, ex=self.ttl_seconds)
            return candidate
        bound = await self.client.get(name)
        return str(bound) if bound else candidate

    @guarded
    async def release(self, owner: str, key: str | None) -> None:
        """Forget a key whose first attempt failed, so the retry really runs."""
        if key is None:
            return
        name = self.keys.idempotency(owner, key)
        bound = await self.client.get(name)
        await self.client.delete(name, *([self.keys.idempotency_of(str(bound))] if bound else []))
