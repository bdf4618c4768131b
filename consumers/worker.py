"""One consumed batch: the head (parse, score, store in Redis), then the tail (publish results, dead-letter).

A batch may mix single requests (one row per message) and bulk chunks (many rows per message,
``consumers.bulk``); each kind is scored in one vectorised call and answered in its own form.

The app runs the head in the subscriber's loop and hands the tail to ``consumers.pipeline``,
which commits the batch's offsets only after the tail's messages are acknowledged by Kafka. The
head hands over once the batch is scored; its saving to Redis runs on while the next batch is
scored (``consumers.pipeline.Saving``): with one worker, its scoring thread sat idle for about a
quarter of a bulk job while the event loop saved and encoded the previous batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial

import pandas as pd
import structlog
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from consumers.bulk import score_chunks
from consumers.drift import DriftMonitor
from consumers.metrics import BATCH_SIZE, DEAD_LETTERS, END_TO_END_SECONDS, MESSAGES, STAGE_SECONDS
from consumers.model import ModelHolder
from consumers.parsing import Accepted, ChunkAccepted, Rejected, parse_record
from consumers.pipeline import Saving
from consumers.recalibration import Recalibrator
from consumers.retry import with_retry
from consumers.rollout import RolloutRecorder
from consumers.variants import Routed, VariantRouter
from infra.kafka import Outgoing, keyed_json, publish_confirmed
from infra.settings import Settings
from schemas import AnswerHead, ErrorInfo, PredictionRequest, PredictionResult, Timings, utc_now
from schemas.chunks import RowChunk, chunk_key
from schemas.topics import (
    ERROR_CODE_HEADER,
    ERROR_HEADER,
    SOURCE_OFFSET_HEADER,
    SOURCE_PARTITION_HEADER,
    SOURCE_TOPIC_HEADER,
)
from state.chunks import ChunkAnswer, ChunkStore
from state.predictions import Predictions

log = structlog.get_logger(__name__)
Publish = Callable[[Iterable[Outgoing]], Awaitable[None]]
"""Hands messages to Kafka and waits for their acks: the broker's producer, or the open transaction's."""


def rejected_result(rejected: Rejected) -> PredictionResult | None:
    if rejected.request_id is None:
        return None
    return PredictionResult(
        request_id=rejected.request_id,
        job_id=rejected.job_id,
        row=rejected.row,
        status="failed",
        timings=Timings(submitted_at=rejected.submitted_at or utc_now(), scored_at=utc_now()),
        error=ErrorInfo(code=rejected.code, message=rejected.reason),
    )


def dead_letter_headers(rejected: Rejected) -> dict[str, str]:
    record = rejected.record
    original = {k: v.decode("utf-8", errors="replace") for k, v in record.headers or ()}
    return original | {
        ERROR_CODE_HEADER: rejected.code,
        ERROR_HEADER: rejected.reason[:2000],
        SOURCE_TOPIC_HEADER: record.topic,
        SOURCE_PARTITION_HEADER: str(record.partition),
        SOURCE_OFFSET_HEADER: str(record.offset),
    }


def _lap(stage: str, started: float) -> float:
    now = time.perf_counter()
    STAGE_SECONDS.labels(stage).observe(now - started)
    return now


def is_terminal(record: PredictionResult | AnswerHead | None) -> bool:
    return record is not None and record.status != "queued"


def observe_chunks(chunks: Sequence[ChunkAnswer]) -> None:
    """Bulk rows in the same counters as single requests (by status), one end-to-end time per chunk."""
    now = utc_now()
    for chunk in chunks:
        done, failed = chunk.counts
        MESSAGES.labels("done").inc(done)
        MESSAGES.labels("failed").inc(failed)
        END_TO_END_SECONDS.observe((now - chunk.submitted_at).total_seconds())


class Worker:
    def __init__(
        self,
        settings: Settings,
        broker: KafkaBroker,
        predictions: Predictions,
        chunks: ChunkStore,
        models: ModelHolder,
        drift: DriftMonitor | None = None,
        recalibrator: Recalibrator | None = None,
        publish: Publish | None = None,
        router: VariantRouter | None = None,
        rollout: RolloutRecorder | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.predictions = predictions
        self.chunks = chunks
        self.models = models
        self.drift = drift or DriftMonitor(settings.drift_window)
        self.recalibrator = recalibrator
        self.publish: Publish = publish or partial(publish_confirmed, broker)
        # Which variant answers each request; without a router, the champion alone.
        self.router = router or VariantRouter(settings, models, None, recalibrator)
        self.rollout = rollout or RolloutRecorder(None)

    async def _known(self, ids: list[str]) -> list[PredictionResult | None]:
        started = time.perf_counter()
        states = await with_retry("redis_read", lambda: self.predictions.get_many(ids))
        _lap("redis_read", started)
        return states

    def _score(
        self, requests: list[PredictionRequest], chunks: list[RowChunk]
    ) -> tuple[Routed, tuple[list[ChunkAnswer], pd.DataFrame | None]]:
        """Both kinds of a batch in one worker thread, one after the other: two model calls at once
        would only contend for the same cores."""
        return self.router.answer(requests), score_chunks(self.models.current, chunks, self.recalibrator)

    async def head(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> Saving:
        """Parse and score; the saving to Redis runs on while the pipeline takes the next batch, and the
        tail (publish results and dead letters, wait for acks) follows it."""
        started = time.perf_counter()
        BATCH_SIZE.observe(len(records))
        now_ms = time.time() * 1000
        for record in records:
            STAGE_SECONDS.labels("queued").observe(max(0.0, now_ms - record.timestamp) / 1000)
        parsed = [parse_record(record) for record in records]
        accepted = [p for p in parsed if isinstance(p, Accepted)]
        bulk = [p for p in parsed if isinstance(p, ChunkAccepted)]
        for item in accepted:  # the producer's time from submission until it handed the request to Kafka
            submitted_ms = item.request.submitted_at.timestamp() * 1000
            STAGE_SECONDS.labels("to_kafka").observe(max(0.0, item.record.timestamp - submitted_ms) / 1000)
        rejected = [p for p in parsed if isinstance(p, Rejected)]

        ids = [a.request.request_id for a in accepted] + [r.request_id for r in rejected if r.request_id]
        # Which requests already have an answer (a redelivery) is looked up while the batch is scored:
        # the lookup is one Redis round trip on every batch, and an answered request is rare.
        requests = [a.request for a in accepted]
        # Single requests go through the rollout (champion, or the challenger on a canary share); bulk
        # chunks are answered by the champion alone.
        known_states, (routed, (chunks, bulk_frame)) = await asyncio.gather(
            self._known(ids), asyncio.to_thread(self._score, requests, [b.chunk for b in bulk])
        )
        known = dict(zip(ids, known_states, strict=True))
        scored = [r for r in routed.results if not is_terminal(known[r.request_id])]
        answered = [(a, k) for a in accepted if (k := known[a.request.request_id]) is not None and is_terminal(k)]
        # A bad message never overwrites a request that already has its answer (e.g. a garbage replay of its key).
        failures = [
            r for x in rejected if (r := rejected_result(x)) is not None and not is_terminal(known[r.request_id])
        ]
        _lap("score", started)

        async def save() -> None:
            begun = time.perf_counter()
            await with_retry("redis_write", lambda: self.predictions.save_results([*scored, *failures]))
            if chunks:
                await with_retry("redis_write", lambda: self.chunks.save(chunks))
            _lap("redis_write", begun)
            self._observe(scored, failures, rejected, answered)
            observe_chunks(chunks)

        async def tail() -> None:
            begun = time.perf_counter()
            replies = {a.request.request_id: a.reply_to for a in accepted if a.reply_to}
            replies |= {chunk_key(b.chunk.job_id, b.chunk.chunk): b.reply_to for b in bulk if b.reply_to}
            topic = self.settings.results_topic
            outgoing = [
                *(keyed_json(topic, r.request_id, r) for r in (*scored, *failures, *(k for _, k in answered))),
                *(Outgoing(topic, c.message(), chunk_key(c.job_id, c.chunk).encode()) for c in chunks),
            ]
            await with_retry("kafka_results", lambda: self._publish_results(outgoing, replies))
            if rejected:
                await with_retry("kafka_dead_letters", lambda: self._publish_dead_letters(rejected))
            _lap("publish", begun)
            await self.rollout.after(routed)  # per-variant model times, off the answer's path; never raises
            for frame in (routed.frame, bulk_frame):  # off the answer's path: the drift window is not urgent
                if frame is not None:
                    self.drift.observe(frame)

        return Saving(asyncio.create_task(save()), tail)

    async def _publish_results(self, results: Sequence[Outgoing], replies: dict[str, str]) -> None:
        """Each answer keyed by its id (a request's, or a chunk's job and chunk), also to its reply_to topic."""
        outgoing = []
        for message in results:
            outgoing.append(message)
            if message.key is not None and (reply_to := replies.get(message.key.decode())):
                outgoing.append(replace(message, topic=reply_to))
        await self.publish(outgoing)

    async def _publish_dead_letters(self, rejected: Sequence[Rejected]) -> None:
        await self.publish(
            (
                Outgoing(self.settings.dlq_topic, r.record.value or b"", r.record.key, dead_letter_headers(r))
                for r in rejected
            ),
        )

    @staticmethod
    def _observe(
        scored: Sequence[PredictionResult],
        failures: Sequence[PredictionResult],
        rejected: Sequence[Rejected],
        answered: Sequence[object],
    ) -> None:
        now = utc_now()
        for result in scored:
            MESSAGES.labels(result.status).inc()
            END_TO_END_SECONDS.observe((now - result.timings.submitted_at).total_seconds())
        for item in rejected:
            MESSAGES.labels("dead_letter").inc()
            DEAD_LETTERS.labels(item.code).inc()
            log.warning(
                "dead_letter",
                code=item.code,
                request_id=item.request_id,
                partition=item.record.partition,
                offset=item.record.offset,
            )
        if answered:
            MESSAGES.labels("already_answered").inc(len(answered))
        log.debug("batch_done", scored=len(scored), failed=len(failures), dead=len(rejected), answered=len(answered))
