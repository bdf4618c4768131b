"""The scoring worker as a FastStream app: one batch subscriber in the workers' consumer group."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from faststream import FastStream
from faststream.kafka import KafkaBroker

from consumers.drift import DriftMonitor
from consumers.heartbeat import beat_forever, worker_name
from consumers.lag import LagExporter
from consumers.lifespan import LAG_SECONDS, every, scoring_lifespan
from consumers.model import ModelHolder
from consumers.pipeline import CommitPipeline, PipelineRebalanceListener
from consumers.prefetch import BatchLoop, Prefetcher, requests_subscriber
from consumers.recalibration import Recalibrator
from consumers.rollout import RolloutRecorder
from consumers.transactions import TransactionalSink
from consumers.variants import VariantRouter
from consumers.worker import Worker
from infra.kafka import create_broker
from infra.settings import Settings
from schemas.messages import PredictionResult
from state import State

log = structlog.get_logger(__name__)
DRIFT_SECONDS = 10.0


@dataclass(frozen=True)
class ScoringService:
    worker: Worker
    consumer: Callable[[], AIOKafkaConsumer | None]
    pipeline: CommitPipeline
    prefetcher: Prefetcher
    loop: BatchLoop


def challenger_holder(settings: Settings) -> ModelHolder:
    """The challenger's holder: optional (no version under its alias: no challenger)."""
    return ModelHolder(settings, settings.challenger_alias, "challenger", optional=True)


def served_versions(models: ModelHolder, challenger: ModelHolder | None) -> list[str]:
    """The versions a worker answers with: the champion's, and the challenger's (a canary's share)."""
    return [h.serving.ref.version for h in (models, challenger) if h is not None and h.serving is not None]


def calibration_reader(
    recalibrator: Recalibrator | None, models: ModelHolder, challenger: ModelHolder | None
) -> Callable[[], Coroutine[Any, Any, None]]:
    """What a scoring process runs every ``VALUESTREAM_CALIBRATION_POLL_SECONDS``: read the state of the
    versions it serves now."""

    async def read() -> None:
        if recalibrator is not None:
            await recalibrator.refresh(*served_versions(models, challenger))

    return read


def build_worker(
    settings: Settings,
    broker: KafkaBroker,
    models: ModelHolder,
    store: State,
    challenger: ModelHolder | None = None,
    sink: TransactionalSink | None = None,
) -> ScoringService:
    """``sink``: exactly-once delivery (results and offsets in one transaction per batch); None: at-least-once."""
    recalibrator = Recalibrator(store.calibration, settings.calibration_price_edges)
    router = VariantRouter(settings, models, challenger, recalibrator)
    drift = DriftMonitor(settings.drift_window)
    publish = sink.publish if sink is not None else None
    worker = Worker(
        settings,
        broker,
        store.predictions,
        store.chunks,
        models,
        drift,
        recalibrator,
        publish,
        router,
        RolloutRecorder(store.rollout),
    )
    prefetcher = Prefetcher(settings.batch_max_records, settings.batch_max_wait_ms, settings.batch_max_bytes)

    def consumer() -> AIOKafkaConsumer | None:
        """The consumer FastStream created for the subscriber below (None until the broker started)."""
        return subscriber.consumer

    pipeline = CommitPipeline(
        consumer,
        depth=settings.worker_pipeline_depth,
        flush_seconds=settings.worker_flush_seconds,
        drop_prefetched=prefetcher.discard,
        transactions=sink,
    )
    # The pipeline commits each batch's offsets itself, in batch order, once its results are in Redis and
    # acknowledged on the results topic; a failed batch is rewound, never committed.
    subscriber = requests_subscriber(
        broker,
        settings,
        group_id=settings.consumer_group,
        listener=PipelineRebalanceListener(pipeline),
        title="score-requests",
        description=(
            "Scores prediction requests in micro-batches. Value: PredictionRequest JSON (key: request_id) or a "
            "bulk RowChunk of many rows of one file job, as rows or columns (key: <job_id>:c<chunk>), optional "
            "header reply_to. "
            "Results go to Redis, to predictions.results and to the reply_to topic; bad input goes to "
            "predictions.dlq (a chunk's invalid rows are answered failed, row by row, and never fail the chunk)."
        ),
    )

    # Declared for the AsyncAPI document: the worker publishes through the broker directly.
    broker.publisher(
        settings.results_topic,
        title="prediction-results",
        description="Every final result (done or failed), key = request_id, or a bulk chunk's answers, key = "
        "<job_id>:c<chunk>; also produced to a request's reply_to.",
        schema=PredictionResult,
    )
    broker.publisher(
        settings.dlq_topic,
        title="dead-letters",
        description=(
            "The original bytes of a message that is not JSON or not a valid PredictionRequest, with headers "
            "x-error-code, x-error, x-source-topic, x-source-partition, x-source-offset (plus the original ones)."
        ),
        schema=bytes,
    )
    loop = BatchLoop(consumer, prefetcher, lambda batch: pipeline.process(batch, worker.head))
    return ScoringService(worker, consumer, pipeline, prefetcher, loop)


def create_app(settings: Settings, worker_index: int = 0, metrics_port: int | None = None) -> FastStream:
    broker = create_broker(settings, client_id=f"worker-{worker_index}")
    models = ModelHolder(settings)
    challenger = challenger_holder(settings)
    store = State.connect(settings)
    sink = exactly_once_sink(settings, worker_index)
    service = build_worker(settings, broker, models, store, challenger, sink)
    worker = service.worker
    lag = LagExporter(service.consumer)

    async def export_drift() -> None:
        worker.drift.export(models.current.drift_reference if models.loaded else None)

    port = settings.worker_metrics_port + worker_index if metrics_port is None else metrics_port

    read_calibration = calibration_reader(worker.recalibrator, models, challenger)

    def background() -> list[Coroutine[Any, Any, None]]:
        return [
            beat_forever(store.heartbeats, worker_name(worker_index), models),
            every(LAG_SECONDS, "consumer_lag", lag.export),
            every(DRIFT_SECONDS, "feature_drift", export_drift),
            every(settings.calibration_poll_seconds, "calibration", read_calibration),
        ]

    lifespan = scoring_lifespan(
        models,
        challenger,
        store,
        poll_seconds=settings.model_poll_seconds,
        metrics_port=port,
        background=background,
        ready_event="worker_ready",
        ready_fields={"index": worker_index, "rollout_mode": settings.rollout_mode},
    )

    app = FastStream(broker, lifespan=lifespan)
    if sink is not None:
        app.after_startup(sink.start)
    app.after_startup(service.loop.start)  # the broker (and so the subscriber's consumer) has started
    app.on_shutdown(service.pipeline.close)  # before the broker (producer and consumer) stops
    app.on_shutdown(service.prefetcher.close)
    app.on_shutdown(service.loop.stop)
    if sink is not None:
        app.on_shutdown(sink.stop)
    return app


def exactly_once_sink(settings: Settings, worker_index: int) -> TransactionalSink | None:
    """The worker's transactional producer in exactly-once mode; a fenced worker (a zombie) stops itself."""
    if settings.delivery != "exactly_once":
        return None
    return TransactionalSink(settings, worker_index, on_fenced=lambda: os.kill(os.getpid(), signal.SIGTERM))
