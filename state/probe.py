"""Blocking probes for the process supervisor and the test harness: does a Redis answer, and which
workers have a model loaded (their heartbeats)."""

from __future__ import annotations

import redis
from pydantic import ValidationError

from schemas.api import WorkerHeartbeat
from state.keys import Keys


def store_answers(url: str, timeout: float = 0.5) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def heartbeats(url: str, prefix: str, name_pattern: str = "*") -> list[WorkerHeartbeat]:
    """Live workers' heartbeats matching ``name_pattern``; empty when Redis does not answer."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0, decode_responses=True)
    beats = []
    try:
        for key in client.scan_iter(match=Keys(prefix).worker(name_pattern)):
            raw = client.get(key)
            if raw:
                beats.append(WorkerHeartbeat.model_validate_json(str(raw)))
    except (redis.RedisError, OSError, ValidationError):
        return []
    finally:
        client.close()
    return beats
