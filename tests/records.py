"""A Kafka record as a consumer hands it over, for tests of what happens to one without a broker."""

from __future__ import annotations

from aiokafka import ConsumerRecord

from schemas.topics import REQUESTS_TOPIC


def consumer_record(
    value: bytes,
    key: bytes | None = None,
    *,
    offset: int = 0,
    partition: int = 0,
    headers: list[tuple[str, bytes]] | None = None,
) -> ConsumerRecord:
    return ConsumerRecord(
        topic=REQUESTS_TOPIC,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=0 if key is None else len(key),
        serialized_value_size=len(value),
        headers=headers or [],
    )
