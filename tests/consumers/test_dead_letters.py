"""Bad input goes to the dead-letter topic with its reason; the valid messages around it are all scored."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from infra.settings import Settings
from infra.topics import ensure_topics
from schemas.topics import (
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    REPLY_TO_HEADER,
    SOURCE_OFFSET_HEADER,
    SOURCE_PARTITION_HEADER,
    SOURCE_TOPIC_HEADER,
)
from tests.conftest import StartWorker
from tests.consumers.conftest import Message, RedisView, as_message, produce, read_topic, requests_for, wait_until

pytestmark = pytest.mark.integration

VALID = {"gr_liv_area": 1500, "year_built": 1990, "neighborhood": "Gilbert"}


def bad_messages() -> dict[str, tuple[Message, str]]:
    """100 poison messages by request id, with the error code each must get."""
    bad: dict[str, tuple[Message, str]] = {}
    for i in range(25):
        rid = f"notjson-{i}"
        bad[rid] = ((rid.encode(), b"\xff\xfe{not json" + bytes([i]), [("trace", b"t-%d" % i)]), "not_json")
    for i in range(25):
        rid = f"schema-{i}"
        body: dict[str, object] = (
            {"request_id": rid, "features": VALID, "colour": "red"} if i % 2 else {"request_id": rid}
        )
        bad[rid] = ((rid.encode(), json.dumps(body).encode(), []), "invalid_request")
    for i in range(25):
        rid = f"range-{i}"
        body = {"request_id": rid, "features": VALID | {"gr_liv_area": -5, "year_built": 3000}}
        bad[rid] = ((rid.encode(), json.dumps(body).encode(), []), "invalid_request")
    for i in range(25):
        rid = f"jobbad-{i}"
        body = {"request_id": rid, "job_id": "mixed-job", "row": 1000 + i, "features": VALID | {"latitude": 95}}
        bad[rid] = ((None, json.dumps(body).encode(), []), "invalid_request")
    return bad


def test_poison_messages_are_dead_lettered_and_never_block_the_stream(
    settings: Settings, start_worker: StartWorker, view: RedisView
) -> None:
    start_worker(settings)
    valid = requests_for(1000, "ok", job_id="mixed-job")
    bad = bad_messages()
    messages = [as_message(r) for r in valid]
    # Interleave the poison so that every partition has some right in front of valid records.
    for i, (message, _) in enumerate(bad.values()):
        messages.insert(i * 11, message)
    started = time.monotonic()
    produce(settings, messages)

    ids = [r.request_id for r in valid]
    wait_until(lambda: view.answered(ids) == 1000 and view.answered(list(bad)) == 100, 30, "all answered")
    dead = read_topic(settings, settings.dlq_topic, 100, timeout=max(1.0, 30 - (time.monotonic() - started)))
    assert len(dead) == 100

    results = view.results(ids)
    assert all(r is not None and r.status == "done" and r.price for r in results)
    job = view.job("mixed-job")
    assert (int(job["done"]), int(job["failed"])) == (1000, 25)

    originals = {m[1]: (rid, code) for rid, (m, code) in bad.items()}
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        rid, code = originals[record.value]  # the original bytes, untouched
        assert headers[ERROR_CODE_HEADER] == code
        assert headers[SOURCE_TOPIC_HEADER] == settings.requests_topic
        assert int(headers[SOURCE_PARTITION_HEADER]) >= 0
        assert int(headers[SOURCE_OFFSET_HEADER]) >= 0
        stored = view.results([rid])[0]
        assert stored is not None
        assert stored.status == "failed"
        assert stored.error is not None
        assert stored.error.code == code
        assert stored.error.message == headers[ERROR_HEADER]
        if rid.startswith("notjson"):
            assert headers["trace"] == rid.replace("notjson-", "t-")  # original headers travel along
        if rid.startswith("range"):
            assert "features.gr_liv_area" in stored.error.message
            assert "features.year_built" in stored.error.message
        if rid.startswith("jobbad"):
            assert stored.job_id == "mixed-job"
            assert stored.row == 1000 + int(rid.split("-")[1])

    results_topic = read_topic(settings, settings.results_topic, 1100)
    assert len({r.key for r in results_topic}) == 1100


def test_reply_to_header_gets_its_own_copy(settings: Settings, start_worker: StartWorker, view: RedisView) -> None:
    reply_topic = f"{settings.results_topic}-replies"
    asyncio.run(ensure_topics(settings.kafka_bootstrap, [reply_topic], 1))
    start_worker(settings)
    asked, silent = requests_for(3, "reply"), requests_for(2, "plain", seed=9)
    produce(
        settings,
        [as_message(r, [(REPLY_TO_HEADER, reply_topic.encode())]) for r in asked] + [as_message(r) for r in silent],
    )
    replies = read_topic(settings, reply_topic, 3, timeout=30)
    assert sorted(r.key.decode() for r in replies) == sorted(r.request_id for r in asked)
    assert all(json.loads(r.value)["status"] == "done" for r in replies)
    assert len(read_topic(settings, settings.results_topic, 5, timeout=30)) == 5
