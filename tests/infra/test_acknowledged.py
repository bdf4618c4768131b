"""The acknowledgement deadline measures the broker: steady acknowledgements never time out, however
long the whole send takes; silence does, and a refused message fails the send at once."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError

from infra.kafka import acknowledged

STEP = 0.05
TIMEOUT = 1.0


async def acknowledge_one_by_one(futures: list[asyncio.Future[int]]) -> None:
    for i, future in enumerate(futures):
        await asyncio.sleep(STEP)
        future.set_result(i)


async def test_a_send_longer_than_the_deadline_succeeds_while_acknowledgements_keep_coming() -> None:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[int]] = [loop.create_future() for _ in range(int(3 * TIMEOUT / STEP))]
    acking = asyncio.create_task(acknowledge_one_by_one(futures))
    started = loop.time()
    await acknowledged(futures, TIMEOUT)
    await acking
    assert loop.time() - started > 2 * TIMEOUT  # longer than the deadline, and not refused
    assert [f.result() for f in futures] == list(range(len(futures)))


async def test_silence_for_the_deadline_is_a_timeout() -> None:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[int]] = [loop.create_future() for _ in range(3)]
    futures[0].set_result(0)
    with pytest.raises(TimeoutError, match="acknowledged nothing"):
        await acknowledged(futures, 0.2)


async def test_a_refused_message_fails_the_send_without_waiting_for_the_rest() -> None:
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[int]] = [loop.create_future() for _ in range(3)]
    futures[1].set_exception(KafkaTimeoutError())
    with pytest.raises(KafkaTimeoutError):
        await acknowledged(futures, 30.0)
