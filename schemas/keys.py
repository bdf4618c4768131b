"""Redis key layout. Every key lives under one configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str = "vs"

    def prediction(self, request_id: str) -> str:
        """String: the JSON ``PredictionResult`` of one request (queued, done or failed)."""
        return f"{self.prefix}:pred:{request_id}"

    def job(self, job_id: str) -> str:
        """Hash: ``total``, ``done``, ``failed``, ``created_at``, ``source``, ``owner``."""
        return f"{self.prefix}:job:{job_id}"

    def job_results(self, job_id: str) -> str:
        """Hash: input row index -> JSON ``PredictionResult``; read in row order."""
        return f"{self.prefix}:job:{job_id}:results"

    def idempotency(self, key: str) -> str:
        """String: the request id first answered for a client's ``Idempotency-Key``."""
        return f"{self.prefix}:idem:{key}"

    @property
    def feed(self) -> str:
        """Stream (capped): the newest results, field ``result`` = JSON ``PredictionResult``."""
        return f"{self.prefix}:feed"

    @property
    def jobs_index(self) -> str:
        """Sorted set: job id scored by creation time."""
        return f"{self.prefix}:jobs"

    def worker(self, name: str) -> str:
        """String with TTL: a live worker's heartbeat (JSON ``WorkerHeartbeat``)."""
        return f"{self.prefix}:worker:{name}"

    @property
    def workers_pattern(self) -> str:
        return f"{self.prefix}:worker:*"
