"""Workers' heartbeats: each live worker's word on the model it serves, expiring when it stops beating."""

from __future__ import annotations

from pydantic import ValidationError
from redis.asyncio import Redis

from schemas.api import WorkerHeartbeat
from state.errors import guarded
from state.keys import Keys


class Heartbeats:
    def __init__(self, client: Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    @guarded
    async def beat(self, beat: WorkerHeartbeat, ttl_seconds: int) -> None:
        await self.client.set(self.keys.worker(beat.name), beat.model_dump_json(), ex=ttl_seconds)

    @guarded
    async def live(self, name_pattern: str = "*") -> list[WorkerHeartbeat]:
        """The live workers' heartbeats by name (``name_pattern`` as in Redis MATCH)."""
        keys = [key async for key in self.client.scan_iter(match=self.keys.worker(name_pattern), count=100)]
        beats = []
        for raw in await self.client.mget(keys) if keys else []:
            if raw is None:
                continue
            try:
                beats.append(WorkerHeartbeat.model_validate_json(raw))
            except ValidationError:
                continue
        return sorted(beats, key=lambda b: b.name)
