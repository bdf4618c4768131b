"""What the three-broker fault tests share: a stream of requests, posts through the API while a fault
lasts, and the checks afterwards on Redis and on a ``read_committed`` read of the results topic."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from infra.cluster import KafkaCluster, busiest_leader
from infra.settings import Settings
from schemas import PredictionResult
from tests.api.conftest import HOUSE, connected_client
from tests.conftest import isolated_settings
from tests.consumers.conftest import RedisView, as_message, create_job, produce, read_topic, requests_for, wait_until

Delivery = Literal["at_least_once", "exactly_once"]
JOB = "stream"
# 202: queued; 200: queued and already answered (a client-chosen id is looked up after it is handed over,
# and a fast worker may have scored it by then). Both mean Kafka has the request.
ACCEPTED = {200, 202}


def fault_settings(base: Settings, delivery: Delivery) -> Settings:
    # A short acknowledgement deadline: during the broker's loss the API answers 503 rather than wait long.
    return isolated_settings(
        base, delivery=delivery, feed_maxlen=100_000, rate_limit="none", kafka_ack_timeout_seconds=5.0
    )


def stream(settings: Settings, total: int) -> list[str]:
    """``total`` requests of one job, produced to the requests topic (acks=all); their ids."""
    create_job(settings, JOB, total)
    requests = requests_for(total, JOB, job_id=JOB)
    produce(settings, [as_message(r) for r in requests])
    return [r.request_id for r in requests]


def done_count(view: RedisView) -> int:
    return int(view.job(JOB).get("done", 0))


def progressed(view: RedisView, at_least: int, timeout: float = 180.0) -> int:
    wait_until(lambda: done_count(view) >= at_least, timeout, f"{at_least} requests done")
    return done_count(view)


def kill_busiest_leader(cluster: KafkaCluster, settings: Settings) -> int:
    """SIGKILL the node leading the most partitions of the requests and results topics; its id."""
    topics = [settings.requests_topic, settings.results_topic]
    node = asyncio.run(busiest_leader(cluster.bootstrap, topics))
    cluster.kill(node)
    return node


@dataclass
class ApiPosts:
    """``POST /predict`` answers while a fault lasts: every status seen, the ids answered 202 and 503.

    A 503 says Kafka did not confirm the request in time, not that it was never written: it may still
    be scored (a client retries it with the same request_id, which is idempotent)."""

    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@contextmanager
def posting(settings: Settings) -> Iterator[ApiPosts]:
    """Post one house at a time through the API in a thread until the block ends."""
    posts = ApiPosts()
    stop = threading.Event()
    ready = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with contextmanager(connected_client)(settings) as client:
                ready.set()
                while not stop.is_set():
                    request_id = f"api-{uuid.uuid4().hex}"
                    answer = client.post("/api/v1/predict", json={"request_id": request_id, "features": HOUSE})
                    posts.statuses[answer.status_code] += 1
                    if answer.status_code in ACCEPTED:
                        posts.accepted.append(request_id)
                    elif answer.status_code == 503:
                        posts.refused.append(request_id)
        except BaseException as exc:
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="api-posts")
    thread.start()
    ready.wait(120)
    try:
        yield posts
    finally:
        stop.set()
        thread.join(120)
    if errors:
        raise errors[0]


def topic_results(settings: Settings, expected: int) -> dict[str, list[PredictionResult]]:
    """Every result on the results topic as a ``read_committed`` reader sees it, by request id."""
    records = read_topic(settings, settings.results_topic, expected, timeout=120, isolation_level="read_committed")
    found: dict[str, list[PredictionResult]] = defaultdict(list)
    for record in records:
        found[record.key.decode()].append(PredictionResult.model_validate_json(record.value))
    return found


def check_outcome(
    settings: Settings, view: RedisView, ids: list[str], delivery: Delivery, posts: ApiPosts | None = None
) -> None:
    """Redis holds every answer, counted once; the committed results topic holds each request exactly
    once (exactly-once) or at least once with identical copies (at-least-once), the same as Redis.
    Requests the API answered 202 are all there; of those it answered 503, some may be."""
    api_ids = posts.accepted if posts is not None else []
    maybe = set(posts.refused) if posts is not None else set()
    wait_until(lambda: view.job_done(JOB, len(ids)), 300, "job complete")
    everything = ids + api_ids
    wait_until(lambda: view.answered(everything) == len(everything), 120, "API requests answered")
    job = view.job(JOB)
    assert (int(job["done"]), int(job["failed"]), int(job["total"])) == (len(ids), 0, len(ids))
    assert view.client.hlen(view.keys.job_results(JOB)) == len(ids)

    published = topic_results(settings, len(everything))
    missing = set(everything) - set(published)
    assert not missing, f"{len(missing)} requests missing on the committed results topic"
    unexpected = set(published) - set(everything) - maybe
    assert not unexpected, f"{len(unexpected)} results on the topic of requests never sent"
    answered = list(published)
    stored = dict(zip(answered, view.results(answered), strict=True))
    repeated = {rid: copies for rid, copies in published.items() if len(copies) > 1}
    if delivery == "exactly_once":
        assert not repeated, f"{len(repeated)} requests more than once on the committed results topic"
    for rid, copies in published.items():
        answer = stored[rid]
        if rid in maybe:  # a 503 erased the request from Redis, possibly after the worker had answered it
            continue
        assert answer is not None, f"{rid} is on the results topic but not in Redis"
        assert all(same_answer(copy, answer) for copy in copies), f"{rid}: the topic and Redis disagree"


def same_answer(left: PredictionResult, right: PredictionResult) -> bool:
    return (left.status, left.price, left.model, left.timings.scored_at) == (
        right.status,
        right.price,
        right.model,
        right.timings.scored_at,
    )


def assert_api_held(posts: ApiPosts) -> None:
    """During the broker's loss the API accepted (202, or 200 with the answer) or refused (503), never
    failed (500)."""
    assert posts.statuses, "no request was posted during the fault: the test proves nothing"
    assert set(posts.statuses) <= ACCEPTED | {503}, dict(posts.statuses)
    assert posts.statuses.get(202, 0) > 0, dict(posts.statuses)
