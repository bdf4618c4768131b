"""Redis keys the REST API adds to ``RedisKeys``: request metadata, feedback and rate limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RestKeys:
    prefix: str = "vs"

    def meta(self, request_id: str) -> str:
        """Hash: ``owner`` (API key id) and ``neighborhood`` of a request accepted by the API."""
        return f"{self.prefix}:meta:{request_id}"

    def feedback(self, request_id: str) -> str:
        """String: the sale price given for a request (SET NX: one feedback per request)."""
        return f"{self.prefix}:fb:{request_id}"

    def feedback_window(self, neighborhood: str, model_version: str) -> str:
        """List (capped): newest observations ``ape|within10|covered`` of one segment."""
        return f"{self.prefix}:fbw:{neighborhood}:{model_version}"

    @property
    def feedback_totals(self) -> str:
        """Hash: ``neighborhood|model_version`` -> feedback count ever."""
        return f"{self.prefix}:fbtotal"

    @property
    def rate_limit_namespace(self) -> str:
        return f"{self.prefix}:rl"
