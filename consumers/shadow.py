"""The shadow scorer (``python -m consumers --shadow``): the variant that did not answer a request scores
it too, in a process of its own, at the lowest CPU priority.

The answering workers never do this work: a shadow in their process shared their GIL and their
cores, and the champion's latency at half load grew by two thirds. This process reads the same
requests topic in a consumer group of its own (``<VALUESTREAM_CONSUMER_GROUP>-shadow``), so it
lags, never the answers: its backlog is ``valuestream_shadow_consumer_lag``.

For each single request in ``VALUESTREAM_SHADOW_SHARE`` (the draw of ``consumers.variants``, made on
the record's key, which the contract makes the request id, so a record not drawn is not even parsed;
on the request id for a record without a key) it reads who answered and at what price
(``Predictions.heads``: the stored answer without its explanations, a quarter of the cost of reading it
whole), scores the request with the other variant (``VariantRouter.shadow``) and records the
challenger's % price difference from the champion's. Requests are validated straight from their bytes
(``consumers.parsing.single_request``) and the answers stored many to a script call
(``state.rollout.SAVE_CHUNK``): together a fifth to a quarter less CPU per request without contention
(``bench/bench_shadow_cpu.py``).

In both modes the other variant's answer (intervals recalibrated by its version's own state, read
every ``VALUESTREAM_CALIBRATION_POLL_SECONDS`` as the workers read theirs) is stored beside the
served one (``state.rollout``), never returned: a sale fed back for the request then values both
versions on the same sale, which is what the promotion guard compares.

- shadow mode: the champion answered, the challenger scores, and its model time is the challenger's
  latency figure (measured here, at idle priority: ``infra.priority``). One batch in
  ``TIMED_EVERY`` is scored at full detail, as the workers answer, and only those are timed; the
  others at ``summary``, which gives the price and intervals a shadow keeps in about half the time;
- canary mode: whichever variant answered, the other scores; the latency figures stay the workers'
  answer-path times.

It takes its batches a second apart (``GATHER_SECONDS``) unless it lags by a full batch: fewer,
larger model calls and round trips for the same requests. Its fetches ask the broker to hold them
for as long (``fetch_max_wait_ms``) unless ``FETCH_MIN_BYTES`` arrive first: with the default of
one byte, each request the API produced sent a fetch answer to the shadow too, so the broker, which
runs at normal priority, woke for it about as often as for the workers.

A request without a final answer in Redis yet (the shadow ran ahead of the workers) is read again,
with growing pauses, for up to ``ANSWER_WAIT_SECONDS``; then it is skipped (``unanswered``), as is
one answered by a version no longer served (an alias moved). Bulk chunks (``RowChunk``) are
skipped: a file job's rows are the champion's alone. Nothing here is retried: a batch that fails
is counted, logged and committed, and the shadow goes on with the next one.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from faststream import FastStream
from faststream.kafka import KafkaBroker

from consumers.app import calibration_reader, challenger_holder
from consumers.lag import LagExporter
from consumers.lifespan import LAG_SECONDS, every, scoring_lifespan
from consumers.metrics import SHADOW_CONSUMER_LAG, SHADOW_RECORDS
from consumers.model import ModelHolder
from consumers.parsing import single_request
from consumers.prefetch import Batch, BatchLoop, Prefetcher, requests_subscriber
from consumers.recalibration import Recalibrator
from consumers.variants import ShadowRun, VariantRouter, in_share
from consumers.worker import is_terminal
from infra.kafka import create_broker
from infra.priority import lower_session_group, policy_name
from infra.settings import Settings
from schemas import AnswerHead, PredictionRequest
from state import State
from state.predictions import Predictions
from state.rollout import Rollout, Shadowed

log = structlog.get_logger(__name__)
ANSWER_WAIT_SECONDS = 10.0
"""Longest wait for a request's answer to reach Redis before the shadow skips the request."""
FIRST_PAUSE_SECONDS = 0.05
"""The first pause before reading missing answers again; each pause doubles, up to a second."""
GATHER_SECONDS = 1.0
"""After a batch smaller than ``batch_max_records`` the shadow waits this long while the next one gathers:
at a moderate load, batches of many requests instead of one or two, so far fewer model calls and Redis
and Kafka round trips (Redis and Kafka serve them at their own priority, not the shadow's) for the same
work. A shadow may lag."""
FETCH_MIN_BYTES = 1 << 20
"""The broker holds the shadow's fetch until this much arrives or ``GATHER_SECONDS`` have passed."""
TIMED_EVERY = 10
"""One batch in this many is scored at full detail and timed; the others at ``summary``."""


def shadow_group(settings: Settings) -> str:
    return f"{settings.consumer_group}-shadow"


class ShadowScorer:
    def __init__(
        self,
        settings: Settings,
        router: VariantRouter,
        predictions: Predictions,
        rollout: Rollout,
        answer_wait_seconds: float = ANSWER_WAIT_SECONDS,
    ) -> None:
        self.settings = settings
        self.router = router
        self.predictions = predictions
        self.rollout = rollout
        self.answer_wait_seconds = answer_wait_seconds
        self.scored_batches = 0

    async def handle(self, records: Batch) -> None:
        """Score a consumed batch's picked requests with the other variant; record the answers and figures."""
        if not self.router.rollout_on:  # nothing to compare: not even parsed
            SHADOW_RECORDS.labels("no_challenger").inc(len(records))
            return
        picked: list[PredictionRequest] = []
        not_picked = 0
        for record in records:
            # The share is drawn on the key (the request id, by the contract) before any parsing;
            # a keyless record is drawn on its parsed request id instead.
            key = None if record.key is None else record.key.decode(errors="replace")
            if key is not None and not self.drawn(key):
                not_picked += 1
                continue
            request = single_request(record)
            if isinstance(request, str):
                SHADOW_RECORDS.labels("bulk_skipped" if request == "chunk" else "invalid").inc()
            elif key is None and not self.drawn(request.request_id):
                not_picked += 1
            else:
                picked.append(request)
        SHADOW_RECORDS.labels("not_picked").inc(not_picked)
        if not picked:
            return
        found = await self.answers([r.request_id for r in picked])
        ready = [r for r in picked if r.request_id in found]
        SHADOW_RECORDS.labels("unanswered").inc(len(picked) - len(ready))
        if not ready:
            return
        timed = self.scored_batches % TIMED_EVERY == 0
        self.scored_batches += 1
        run = await asyncio.to_thread(self.router.shadow, ready, [found[r.request_id] for r in ready], timed=timed)
        SHADOW_RECORDS.labels("version_moved").inc(run.version_moved)
        await self.record(ready, run)
        SHADOW_RECORDS.labels("scored").inc(sum(len(b.request_ids) for b in run.batches))

    def drawn(self, request_id: str) -> bool:
        return in_share(request_id, "shadow", self.settings.shadow_share)

    async def answers(self, request_ids: Sequence[str]) -> dict[str, AnswerHead]:
        """The final answers stored for ``request_ids``; those still missing are read again until
        ``answer_wait_seconds`` have passed."""
        found: dict[str, AnswerHead] = {}
        missing = list(request_ids)
        deadline = time.monotonic() + self.answer_wait_seconds
        pause = FIRST_PAUSE_SECONDS
        while True:
            states = await self.predictions.heads(missing)
            for request_id, state in zip(missing, states, strict=True):
                if state is not None and is_terminal(state):
                    found[request_id] = state
            missing = [rid for rid in missing if rid not in found]
            if not missing or time.monotonic() + pause > deadline:
                return found
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def record(self, requests: Sequence[PredictionRequest], run: ShadowRun) -> None:
        by_id = {r.request_id: r for r in requests}
        shadow_mode = self.settings.rollout_mode == "shadow"
        for batch in run.batches:
            challenger_scored = batch.model.variant == "challenger"
            await self.rollout.save_shadows(
                [
                    Shadowed(rid, by_id[rid].job_id, by_id[rid].submitted_at, answer)
                    for rid, answer in zip(batch.request_ids, batch.answers, strict=True)
                ]
            )
            # Canary mode: both versions' latency figures are the workers' answer-path times.
            # Shadow mode: the challenger's time, from the batches scored at full detail only.
            latency = batch.latency_ms if shadow_mode and challenger_scored else None
            latencies = {batch.model.version: latency} if latency is not None else {}
            differences = (batch.champion_version, batch.challenger_version, batch.differences)
            await self.rollout.record_batch(latencies, differences)


class DiscardOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Records fetched for partitions about to move are dropped: their new owner reads them again."""

    def __init__(self, prefetcher: Prefetcher) -> None:
        self.prefetcher = prefetcher

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.prefetcher.discard()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Nothing to do: each partition starts at the group's committed offset."""


async def commit(consumer: AIOKafkaConsumer | None, records: Batch) -> None:
    """Commit past ``records`` on the partitions still owned (a failed commit: the next owner re-reads)."""
    if consumer is None:
        return
    owned = consumer.assignment()
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        if tp in owned:
            offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
    if not offsets:
        return
    try:
        await consumer.commit(offsets)
    except (KafkaError, AssertionError) as exc:
        log.warning("shadow_commit_failed", error=repr(exc)[:300])


def build_shadow(
    settings: Settings, broker: KafkaBroker, models: ModelHolder, challenger: ModelHolder, store: State
) -> tuple[ShadowScorer, BatchLoop, Prefetcher, LagExporter]:
    recalibrator = Recalibrator(store.calibration, settings.calibration_price_edges)
    router = VariantRouter(settings, models, challenger, recalibrator)
    scorer = ShadowScorer(settings, router, store.predictions, store.rollout)
    prefetcher = Prefetcher(settings.batch_max_records, settings.batch_max_wait_ms, settings.batch_max_bytes)
    subscriber = requests_subscriber(
        broker,
        settings,
        group_id=shadow_group(settings),
        listener=DiscardOnRevoke(prefetcher),
        title="shadow-score-requests",
        description="The shadow scorer: the variant that did not answer a request scores it too (consumers.shadow).",
        fetch_max_wait_ms=round(GATHER_SECONDS * 1000),
        fetch_min_bytes=FETCH_MIN_BYTES,
    )

    def consumer() -> AIOKafkaConsumer | None:
        return subscriber.consumer

    async def handle(records: Batch) -> None:
        try:
            await scorer.handle(records)
        except Exception as exc:  # the shadow never retries: the next batch goes on
            SHADOW_RECORDS.labels("failed").inc(len(records))
            log.warning("shadow_batch_failed", records=len(records), error=repr(exc)[:300])
        await commit(consumer(), records)
        if len(records) < settings.batch_max_records:
            await asyncio.sleep(GATHER_SECONDS)

    loop = BatchLoop(consumer, prefetcher, handle)
    return scorer, loop, prefetcher, LagExporter(consumer, SHADOW_CONSUMER_LAG)


def create_shadow_app(settings: Settings, metrics_port: int | None = None) -> FastStream:
    broker = create_broker(settings, client_id="shadow")
    models = ModelHolder(settings)
    challenger = challenger_holder(settings)
    store = State.connect(settings)
    scorer, loop, prefetcher, lag = build_shadow(settings, broker, models, challenger, store)
    read_calibration = calibration_reader(scorer.router.recalibrator, models, challenger)

    lifespan = scoring_lifespan(
        models,
        challenger,
        store,
        poll_seconds=settings.model_poll_seconds,
        metrics_port=settings.shadow_metrics_port if metrics_port is None else metrics_port,
        background=lambda: [
            every(LAG_SECONDS, "shadow_consumer_lag", lag.export),
            every(settings.calibration_poll_seconds, "calibration", read_calibration),
        ],
        ready_event="shadow_ready",
        ready_fields={
            "group": shadow_group(settings),
            "rollout_mode": settings.rollout_mode,
            "shadow_share": settings.shadow_share,
            "niceness": os.nice(0),
            "scheduling": policy_name(),
        },
        # Only now: a lowered group on a machine kept busy by other work could not load the models at all.
        before_ready=lambda: {"session_group_nice": lower_session_group(settings.shadow_session_nice)},
    )

    app = FastStream(broker, lifespan=lifespan)
    app.after_startup(loop.start)
    app.on_shutdown(prefetcher.close)
    app.on_shutdown(loop.stop)
    return app
