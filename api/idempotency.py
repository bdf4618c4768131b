"""``Idempotency-Key``: the first id answered for a (client, key) pair is the answer to every retry."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Header

from infra.store import ResultStore

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Any unique string; a retry with the same key returns the first answer, never a second job.",
    ),
]


def _key(store: ResultStore, owner: str, key: str) -> str:
    return store.keys.idempotency(hashlib.sha256(f"{owner}\0{key}".encode()).hexdigest())


async def claim(store: ResultStore, owner: str, key: str | None, candidate: str) -> str:
    """The id bound to ``key`` (binding ``candidate`` if the key is new, SET NX)."""
    if key is None:
        return candidate
    redis_key = _key(store, owner, key)
    if await store.client.set(redis_key, candidate, nx=True, ex=store.ttl_seconds):
        return candidate
    bound = await store.client.get(redis_key)
    return str(bound) if bound else candidate


async def release(store: ResultStore, owner: str, key: str | None) -> None:
    """Forget a key whose first attempt failed, so the retry really runs."""
    if key is not None:
        await store.client.delete(_key(store, owner, key))
