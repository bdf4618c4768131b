"""One settings object for every process, read from ``VALUESTREAM_*`` environment variables.

Every default works on a laptop with no configuration: services on 127.0.0.1, state under
``.state/`` in the working directory.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.chunks import MAX_CHUNK_ROWS, MAX_FULL_DETAIL_ROWS
from schemas.topics import DLQ_TOPIC, REQUESTS_TOPIC, RESULTS_TOPIC


class LocalStackSettings(BaseSettings):
    """Where the local stack keeps its files and how `make run` runs it."""

    environment: Literal["local", "production"] = Field(
        default="local", description="'production' refuses unsafe defaults."
    )
    state_dir: Path = Field(
        default=Path(".state"),
        description="Folder for the local stack's data, logs and MLflow files (git-ignored).",
    )
    workers: int = Field(default=1, ge=1, description="Workers started by `make run`.")
    background_training: bool = Field(
        default=True,
        description="On a fresh state `make run` serves a quick model first, then trains the full one in the "
        "background and promotes it if it scores better; false: the quick model only.",
    )
    restart_retries: int = Field(
        default=10,
        ge=0,
        description="Failed restarts in a row (each waiting a second longer) after which `make run` stops "
        "restarting a crashed process.",
    )
    redis_port: int = Field(
        default=6379, description="Port of the Redis that `make run` starts (its processes use it, not REDIS_URL)."
    )
    kafka_port: int = Field(
        default=9092,
        description="Port of the Kafka that `make run` starts (its processes use it, not KAFKA_BOOTSTRAP).",
    )
    kafka_brokers: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Kafka brokers `make run` starts: 1, or a KRaft cluster (e.g. 3) on the following ports, "
        "its topics replicated on every broker with min.insync.replicas=2.",
    )
    dashboard_port: int = Field(default=8501, description="Dashboard port.")
    mlflow_ui_port: int = Field(default=5000, description="Port of the MLflow UI started by `make run`.")


class KafkaSettings(BaseSettings):
    """The brokers and the topics."""

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    kafka_partitions: int = Field(default=6, ge=1, description="Partitions per topic at creation.")
    kafka_replication_factor: int = Field(
        default=1, ge=1, description="Replicas per partition of the topics the stack creates (3 on a cluster)."
    )
    kafka_min_insync_replicas: int = Field(
        default=1,
        ge=1,
        description="min.insync.replicas of the topics the stack creates: replicas that must hold a write before "
        "acks=all confirms it (2 with three replicas: one broker may die without a loss or a refusal).",
    )
    requests_topic: str = Field(default=REQUESTS_TOPIC, description="Topic of prediction requests.")
    results_topic: str = Field(default=RESULTS_TOPIC, description="Topic of prediction results.")
    dlq_topic: str = Field(default=DLQ_TOPIC, description="Dead-letter topic for bad input.")
    kafka_ack_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Longest time without any acknowledgement from Kafka before a send fails (the API answers "
        "503); it restarts with each acknowledgement, so a large upload on a busy machine is slower, not refused.",
    )


class WorkerSettings(BaseSettings):
    """The scoring workers: consumer group, micro-batches, commits, metrics."""

    consumer_group: str = Field(default="valuestream-workers", description="Workers' consumer group.")
    batch_max_records: int = Field(default=500, ge=1, description="Most records a worker scores at once.")
    batch_max_wait_ms: int = Field(default=20, ge=0, description="Longest wait to fill a batch.")
    batch_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Most message bytes a worker scores at once (bounds a batch of bulk chunks, many rows each; "
        "a single message larger than this is a batch of its own).",
    )
    model_threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads a worker's model may use on a large batch (its OMP_NUM_THREADS). Default: this "
        "machine's cores shared among the `workers` that `make run` starts, at least one each.",
    )
    delivery: Literal["at_least_once", "exactly_once"] = Field(
        default="at_least_once",
        description="Results topic delivery: 'exactly_once' publishes each batch's results and dead letters and "
        "commits its offsets in one Kafka transaction (read the topic with isolation_level=read_committed); "
        "'at_least_once' commits after the results are acknowledged, so a rewind repeats some (identical) results.",
    )
    worker_pipeline_depth: int = Field(
        default=8,
        ge=1,
        description="Batches whose results a worker may still be publishing while it scores the next ones "
        "(offsets are committed in batch order, after the results are acknowledged on the results topic).",
    )
    worker_flush_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest wait for a worker's pending results and commits at shutdown or rebalance.",
    )
    worker_fetch_max_wait_ms: int = Field(
        default=100,
        ge=0,
        description="Longest time Kafka holds a worker's fetch open waiting for new records.",
    )
    worker_metrics_port: int = Field(
        default=9100, description="Metrics port of worker 0; worker i listens on this + i."
    )
    drift_window: int = Field(
        default=2_000, ge=10, description="Recent requests per worker compared with the training data (PSI)."
    )


class StateSettings(BaseSettings):
    """Shared state in Redis: where, under which prefix, for how long."""

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis connection URL.")
    redis_prefix: str = Field(default="vs", description="Prefix of every Redis key.")
    result_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60, description="Retention of results and jobs.")
    feed_maxlen: int = Field(default=10_000, ge=100, description="Length of the live feed stream.")


class ModelSettings(BaseSettings):
    """The model registry, the served alias and the intervals' online recalibration."""

    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; a sqlite file under the state folder when unset."
    )
    model_name: str = Field(default="valuestream-price", description="Registered model name.")
    model_alias: str = Field(default="champion", description="Alias the workers serve.")
    model_poll_seconds: float = Field(default=30.0, gt=0, description="How often workers look for a new champion.")
    calibration_learning_rate: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Step of the intervals' online recalibration per sale fed back (0 = off); chosen on the 2009 "
        "sales alone (README, 'Intervals that correct themselves').",
    )
    calibration_price_low: float = Field(
        default=140_000, gt=0, description="Predicted price below which a valuation is in the low price band."
    )
    calibration_price_high: float = Field(
        default=195_000, gt=0, description="Predicted price from which a valuation is in the high price band."
    )
    calibration_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often workers read the recalibration state from Redis."
    )


class RolloutSettings(BaseSettings):
    """The challenger beside the champion: shadow or canary, the promotion guard, what training registers."""

    challenger_alias: str = Field(default="challenger", description="Alias of the model tried beside the champion.")
    rollout_mode: Literal["shadow", "canary"] = Field(
        default="shadow",
        description="'shadow': the challenger also scores requests off the answer path (the shadow scorer), its "
        "answers are stored, never returned; 'canary': it answers a share of requests (sticky by request id).",
    )
    shadow_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Share of requests the shadow scorer also scores with the variant that did not answer them (shadow "
        "mode: the challenger; canary: the other one), for the price differences and the sales the promotion guard "
        "compares. Half by default: beside the "
        "champion on two shared cores, every request cost its p99 about 9 % at half load, half of them 2 %; set 1 "
        "with the shadow scorer on a node of its own.",
    )
    shadow_metrics_port: int = Field(
        default=9150, description="Metrics port of the shadow scorer (`python -m consumers --shadow`)."
    )
    shadow_session_nice: int = Field(
        default=19,
        ge=0,
        le=19,
        description="Nice of the shadow scorer's session CPU group, set once its models are loaded when it leads its "
        "session (Linux autogroup; its threads are at idle priority anyway, but a session competes as one nice-0 task "
        "whatever its threads' priorities). 0 leaves the group as it is.",
    )
    canary_share: float = Field(default=0.1, ge=0, le=1, description="Share of requests the challenger answers.")
    promotion_min_sales: int = Field(
        default=30,
        ge=1,
        description=(
            "Sales fed back for requests both variants valued (one answered, the other scored in shadow) "
            "before `python -m training promote` compares them."
        ),
    )
    train_registers_challenger: bool = Field(
        default=True,
        description="`make train` registers a winner as the challenger when a fully trained champion exists "
        "(false: straight to champion). A quick champion (the first `make run`) is replaced directly.",
    )


class ApiSettings(BaseSettings):
    """The REST API: address, waits, keys, limits and caps."""

    api_host: str = Field(default="127.0.0.1", description="Address the API binds.")
    api_port: int = Field(default=8000, description="API port.")
    api_url: str = Field(default="http://127.0.0.1:8000", description="Where the dashboard finds the API.")
    predict_wait_max_seconds: float = Field(default=10.0, ge=0, description="Cap of POST /predict?wait=.")
    api_kafka_linger_ms: int = Field(
        default=2, ge=0, description="The API producer's wait to batch concurrent requests into one Kafka send."
    )
    api_key_salt: SecretStr = Field(default=SecretStr("valuestream-local"), description="Salt of API key hashes.")
    api_keys: str = Field(
        default="",
        description="Comma-separated 'key_id:sha256hex' pairs, hash = sha256(salt + key) "
        "(`python -m api.security KEY_ID KEY`); empty = no keys (local default).",
    )
    api_operator_key_id: str = Field(
        default="",
        description="The key id that sees everything (all keys' predictions, jobs and feed) in the API and the "
        "dashboard; empty = no operator.",
    )
    rate_limit: str = Field(
        default="100/second",
        description="Per-key (or per-address) limit in `limits` notation, e.g. '100/second'; 'none' = no limit.",
    )
    api_max_json_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="Largest JSON request body.")
    api_max_upload_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Largest uploaded file, in bytes as sent: a .csv.gz counts compressed (gzip makes a CSV of "
        "houses about 6 times smaller).",
    )
    batch_max_rows: int = Field(default=1_000, ge=1, description="Most houses in one POST /batch.")
    job_max_rows: int = Field(
        default=1_000_000,
        ge=1,
        description="Most rows in one uploaded file (counted as the file is read; a .csv.gz may also expand to at "
        "most 4 KiB per row allowed).",
    )
    job_chunk_rows: int = Field(
        default=MAX_CHUNK_ROWS,
        ge=1,
        le=MAX_CHUNK_ROWS,
        description=f"Rows per Kafka message of a file job (API upload or CLI); a job at detail=full sends at most "
        f"{MAX_FULL_DETAIL_ROWS} (its answers carry contributions and comparables); a resumed job keeps its own.",
    )


class LogSettings(BaseSettings):
    """Every process's logs."""

    log_level: str = Field(default="INFO", description="Log level of every process.")
    log_format: Literal["json", "console"] = Field(default="json", description="Log line format.")


# Pydantic orders fields from the last base to the first: the groups read top-down as declared above.
class Settings(
    LogSettings,
    ApiSettings,
    RolloutSettings,
    ModelSettings,
    StateSettings,
    WorkerSettings,
    KafkaSettings,
    LocalStackSettings,
):
    """Every setting, grouped by concern in the classes above; one object, flat names (``VALUESTREAM_<NAME>``)."""

    model_config = SettingsConfigDict(
        env_prefix="VALUESTREAM_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
    )

    @model_validator(mode="after")
    def _safe_in_production(self) -> Settings:
        if self.environment == "production" and self.api_key_salt.get_secret_value() == "valuestream-local":
            raise ValueError("set VALUESTREAM_API_KEY_SALT in production")
        if self.calibration_price_low >= self.calibration_price_high:
            raise ValueError("VALUESTREAM_CALIBRATION_PRICE_LOW must be below VALUESTREAM_CALIBRATION_PRICE_HIGH")
        if self.kafka_min_insync_replicas > self.kafka_replication_factor:
            raise ValueError("VALUESTREAM_KAFKA_MIN_INSYNC_REPLICAS cannot exceed VALUESTREAM_KAFKA_REPLICATION_FACTOR")
        if self.challenger_alias == self.model_alias:
            raise ValueError("VALUESTREAM_CHALLENGER_ALIAS must differ from VALUESTREAM_MODEL_ALIAS")
        return self

    @property
    def calibration_price_edges(self) -> tuple[float, float]:
        return (self.calibration_price_low, self.calibration_price_high)

    @property
    def rate_limited(self) -> bool:
        """An empty value cannot come from the environment (empty variables are ignored): 'none' turns limits off."""
        return self.rate_limit.strip().lower() not in {"", "none", "off"}

    @property
    def kafka_servers(self) -> list[str]:
        """The bootstrap servers as a list: aiokafka takes a string as one single address."""
        return [server.strip() for server in self.kafka_bootstrap.split(",") if server.strip()]

    @property
    def state_path(self) -> Path:
        return self.state_dir.resolve()

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.state_path / 'mlflow' / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.state_path / "mlflow" / "artifacts"

    @property
    def rollout_share(self) -> float:
        """The share the mode applies to: scored in shadow, or answered by the challenger in canary."""
        return self.shadow_share if self.rollout_mode == "shadow" else self.canary_share

    @property
    def threads_per_worker(self) -> int:
        """``model_threads``, or the cores shared among the workers: threads of two workers competing
        for two cores cost CPU and save no time."""
        return self.model_threads or max(1, (os.cpu_count() or 1) // self.workers)

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.model_name}@{self.model_alias}"


GROUPS: tuple[type[BaseSettings], ...] = (
    LocalStackSettings,
    KafkaSettings,
    WorkerSettings,
    StateSettings,
    ModelSettings,
    RolloutSettings,
    ApiSettings,
    LogSettings,
)


def to_env(settings: Settings) -> dict[str, str]:
    """The settings as ``VALUESTREAM_*`` variables, to hand to a child process."""
    env = {}
    for name, value in settings.model_dump(exclude_none=True).items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"VALUESTREAM_{name.upper()}"] = str(value)
    return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
