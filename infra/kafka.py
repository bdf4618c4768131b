"""The FastStream Kafka broker every process uses: acks=all and an idempotent producer."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker

from infra.settings import Settings


def create_broker(settings: Settings, *, client_id: str = "valuestream", linger_ms: int = 0) -> KafkaBroker:
    """``linger_ms``: how long the producer waits to batch concurrent sends into one request."""
    return KafkaBroker(
        settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        client_id=client_id,
        request_timeout_ms=10_000,
        linger_ms=linger_ms,
        logger=logging.getLogger(f"valuestream.{client_id}"),
    )
