"""The whole Redis keyspace under one prefix, every string in it: key names, string values, hash
fields and values, list elements, set and sorted-set members, stream entry fields and values."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
            ttl = int(client.ttl(key))
            yield Found(key, kind, key, ttl)
            for text in _contents(client, key, kind):
                yield Found(key, kind, text, ttl)
    finally:
        client.close()


def _contents(client: redis.Redis, key: str, kind: str) -> Iterator[str]:
    reply: Any
    if kind == "string":
        yield str(client.get(key))
    elif kind == "hash":
        reply = client.hgetall(key)
        for field, value in reply.items():
            yield str(field)
            yield str(value)
    elif kind == "list":
        reply = client.lrange(key, 0, -1)
        yield from (str(v) for v in reply)
    elif kind == "set":
        reply = client.smembers(key)
        yield from (str(v) for v in reply)
    elif kind == "zset":
        reply = client.zrange(key, 0, -1)
        yield from (str(v) for v in reply)
    elif kind == "stream":
        reply = client.xrange(key)
        for _, fields in reply:
            for field, value in fields.items():
                yield str(field)
                yield str(value)
    else:
        raise AssertionError(f"{key}: a {kind} the scan cannot read")
