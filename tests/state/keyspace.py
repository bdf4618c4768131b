"""The whole Redis keyspace under one prefix, every string in it: key names, string values, hash
fields and values, list elements, set and sorted-set members, stream entry fields and values."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class Found:
    key: str
    kind: str
    text: str
    ttl: int


def everything(url: str, prefix: str) -> Iterator[Found]:
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=500):
            kind = str(client.type(key))
            ttl = int(client.ttl(key))  # type: ignore[arg-type]
            yield Found(key, kind, key, ttl)
            for text in _contents(client, key, kind):
                yield Found(key, kind, text, ttl)
    finally:
        client.close()


def _contents(client: redis.Redis, key: str, kind: str) -> Iterator[str]:
    if kind == "string":
        yield str(client.get(key))
    elif kind == "hash":
        for field, value in client.hgetall(key).items():  # type: ignore[union-attr]
            yield str(field)
            yield str(value)
    elif kind == "list":
        yield from (str(v) for v in client.lrange(key, 0, -1))  # type: ignore[union-attr]
    elif kind == "set":
        yield from (str(v) for v in client.smembers(key))  # type: ignore[union-attr]
    elif kind == "zset":
        yield from (str(v) for v in client.zrange(key, 0, -1))  # type: ignore[union-attr]
    elif kind == "stream":
        for _, fields in client.xrange(key):  # type: ignore[union-attr]
            for field, value in fields.items():
                yield str(field)
                yield str(value)
    else:
        raise AssertionError(f"{key}: a {kind} the scan cannot read")
