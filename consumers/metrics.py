"""Prometheus metrics of a scoring worker (served on its own port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("valuestream_worker_messages_total", "Messages consumed, by outcome.", ["outcome"])
BATCH_SIZE = Histogram(
    "valuestream_worker_batch_size",
    "Records per consumed batch.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)
SCORING_SECONDS = Histogram(
    "valuestream_worker_scoring_seconds",
    "Model time per batch.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
END_TO_END_SECONDS = Histogram(
    "valuestream_worker_end_to_end_seconds",
    "From submitted_at until the result was stored.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DEAD_LETTERS = Counter("valuestream_worker_dead_letters_total", "Messages sent to the dead-letter topic.", ["reason"])
RETRIES = Counter("valuestream_worker_retries_total", "Retries after transient faults.", ["operation"])
MODEL_VERSION = Gauge("valuestream_worker_model_version", "Version of the model being served (0: none).")
VARIANT_VERSION = Gauge(
    "valuestream_worker_variant_version", "Version served per variant (champion, challenger; 0: none).", ["variant"]
)
VARIANT_SCORING_SECONDS = Histogram(
    "valuestream_worker_variant_scoring_seconds",
    "Model time per batch, per variant (the shadow scorer's is off the answer path, in a process of its own).",
    ["variant"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
VARIANT_REQUESTS = Counter(
    "valuestream_worker_variant_requests_total",
    "Requests scored per variant and role: 'answer' (returned to the client) or 'shadow' (by the shadow scorer, "
    "beside the other variant's answer).",
    ["variant", "role"],
)
PRICE_DIFFERENCE_PCT = Histogram(
    "valuestream_worker_variant_price_difference_pct",
    "Absolute % difference of the challenger's price from the champion's on the same request (the shadow scorer's).",
    buckets=(0.5, 1, 2, 5, 10, 20, 50, 100),
)
MODEL_RELOADS = Counter("valuestream_worker_model_reloads_total", "Model loads, by outcome.", ["outcome"])
FEATURE_PSI = Gauge(
    "valuestream_worker_feature_psi",
    "Population stability index of recent requests against the model's training data (>= 0.2: significant).",
    ["feature"],
)
DRIFT_WINDOW_ROWS = Gauge("valuestream_worker_drift_window_rows", "Recent requests in the drift window.")
CONSUMER_LAG = Gauge(
    "valuestream_worker_consumer_lag",
    "Records not yet fetched by this worker, per assigned partition (high watermark - position).",
    ["topic", "partition"],
)
STAGE_SECONDS = Histogram(
    "valuestream_worker_stage_seconds",
    "Time per stage of the request path seen by a worker. Per record: 'to_kafka' (submitted_at until the "
    "producer's record timestamp), 'queued' (record timestamp until its batch is being handled). Per batch: "
    "'score' (parse and score; the 'redis_read' lookup of already-answered requests runs alongside), "
    "'redis_write', 'publish' (results and dead letters acknowledged), 'commit', and "
    "'cycle' (batch handed over until its offsets are committed).",
    ["stage"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5),
)
PIPELINE_EVENTS = Counter(
    "valuestream_worker_pipeline_events_total",
    "Commit pipeline events: 'rewind' (a failed batch: partitions sought back), 'stale_dropped' (records fetched "
    "before a rewind, re-read instead), 'commit_failed' (refused, e.g. after a rebalance: the new owner re-reads), "
    "'rollout_skipped' (a batch's per-variant model times not recorded: the backlog was full), 'rollout_failed' "
    "(recording them failed; the answers stand); exactly-once: 'transaction_aborted' (tried again whole), "
    "'stale_offset_skipped' (a committed offset read before its transaction settled, skipped to the worker's own).",
    ["event"],
)
SHADOW_CONSUMER_LAG = Gauge(
    "valuestream_shadow_consumer_lag",
    "Records the shadow scorer has not fetched yet, per assigned partition (high watermark - position): a shadow "
    "that falls behind lags here, never in the workers' answers.",
    ["topic", "partition"],
)
SHADOW_RECORDS = Counter(
    "valuestream_shadow_records_total",
    "Records consumed by the shadow scorer, by outcome: 'scored' (the other variant's answer recorded), "
    "'not_picked' (outside the shadow share), 'no_challenger', 'unanswered' (no stored answer within the wait: "
    "skipped), 'version_moved' (answered by a version no longer served), 'bulk_skipped' (a bulk chunk), "
    "'invalid' (a dead letter for the workers), 'failed' (scoring or storing failed).",
    ["outcome"],
)
