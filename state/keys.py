"""Every Redis key, under one configurable prefix. Nothing outside this package spells a key.

Each kind of key has a retention: records, meta, jobs and bindings expire after the retention
period; the feed is trimmed by age and length and expires when idle; tombstones live as long as
the data they stand for could still arrive. Erased ids never appear in a key name that
outlives the erase: tombstones are named by a digest of the id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "vs"

    def prediction(self, request_id: str) -> str:
        """String: the JSON ``PredictionResult`` of one request (queued, done or failed)."""
        return f"{self.prefix}:pred:{request_id}"

    def meta(self, request_id: str) -> str:
        """Hash: ``owner`` (API key id) and the segment fields (``neighborhood``, ``year_built``, ``year_sold``,
        ``sale_condition``) of a request accepted by the API or a job."""
        return f"{self.prefix}:meta:{request_id}"

    def job(self, job_id: str) -> str:
        """Hash: ``total``, ``done``, ``failed``, ``created_at``, ``source``, ``owner``; ``chunk_rows`` (bulk job)."""
        return f"{self.prefix}:job:{job_id}"

    def job_results(self, job_id: str) -> str:
        """Hash: input row index -> JSON ``PredictionResult``; read in row order."""
        return f"{self.prefix}:job:{job_id}:results"

    def job_chunks(self, job_id: str) -> str:
        """Hash: chunk index -> the compact answers of a bulk job's chunk (``state.chunks``); read in chunk order."""
        return f"{self.prefix}:job:{job_id}:chunks"

    def job_feedback(self, job_id: str) -> str:
        """Hash: row -> the sale price given for a bulk job's row (HSETNX: one per row); erased with the job."""
        return f"{self.prefix}:job:{job_id}:fb"

    def job_sent(self, job_id: str) -> str:
        """Set: chunk indexes acknowledged by Kafka; a resumed job skips them."""
        return f"{self.prefix}:job:{job_id}:sent"

    @property
    def jobs_index(self) -> str:
        """Sorted set: job id scored by creation time (members older than the retention are dropped)."""
        return f"{self.prefix}:jobs"

    @property
    def feed(self) -> str:
        """Stream: the newest results, fields ``id``, ``job``, ``owner``, ``result`` (JSON)."""
        return f"{self.prefix}:feed"

    def tombstone(self, erased_id: str) -> str:
        """String (epoch ms of the erase): results of this request or job submitted before it are dropped."""
        return f"{self.prefix}:gone:{digest(erased_id)}"

    def idempotency(self, owner: str, key: str) -> str:
        """String: the id first answered for a client's ``Idempotency-Key``."""
        return f"{self.prefix}:idem:{digest(owner + chr(0) + key)}"

    def idempotency_of(self, bound_id: str) -> str:
        """String: the idempotency key bound to a request or job id, so erasing the id erases the binding."""
        return f"{self.prefix}:idemof:{bound_id}"

    def feedback(self, request_id: str) -> str:
        """String: the sale price given for a request (SET NX: one feedback per request)."""
        return f"{self.prefix}:fb:{request_id}"

    def feedback_window(self, neighborhood: str, model_version: str) -> str:
        """List (capped): newest observations ``ape|within10|covered`` of one segment."""
        return f"{self.prefix}:fbw:{neighborhood}:{model_version}"

    def feedback_observations(self, model_version: str) -> str:
        """List (capped): newest JSON ``SaleObservation`` of one model version, no request id (the live ratio study)."""
        return f"{self.prefix}:fbobs:{model_version}"

    @property
    def feedback_totals(self) -> str:
        """Hash: ``neighborhood|model_version`` -> feedback count ever."""
        return f"{self.prefix}:fbtotal"

    def shadow(self, request_id: str) -> str:
        """String: the JSON ``ShadowAnswer`` of the variant that did not answer a request (the challenger in
        shadow mode, either in canary mode), erased with the request."""
        return f"{self.prefix}:shadow:{request_id}"

    def version_feedback(self, model_version: str) -> str:
        """List (capped): newest observations ``ape|within10|covered`` of one model version's valuations,
        answered or shadow (shown per variant; the promotion guard compares ``paired_feedback``)."""
        return f"{self.prefix}:fbver:{model_version}"

    @property
    def version_feedback_totals(self) -> str:
        """Hash: ``model_version`` -> sales fed back for its valuations, ever."""
        return f"{self.prefix}:fbver:totals"

    def paired_feedback(self, champion_version: str, challenger_version: str) -> str:
        """List (capped): newest sales fed back for requests both versions valued (one answered, the other
        in shadow), each ``champion's observation;challenger's observation`` as ``ape|within10|covered``:
        the promotion guard compares the two on these same sales."""
        return f"{self.prefix}:fbpair:{champion_version}:{challenger_version}"

    @property
    def paired_feedback_totals(self) -> str:
        """Hash: ``champion:challenger`` versions -> sales fed back for requests both valued, ever."""
        return f"{self.prefix}:fbpair:totals"

    def latency(self, model_version: str) -> str:
        """List (capped): newest model times (ms) of the batches one version scored while a challenger ran."""
        return f"{self.prefix}:lat:{model_version}"

    def price_differences(self, champion_version: str, challenger_version: str) -> str:
        """List (capped): newest % differences of the challenger's price from the champion's, same requests."""
        return f"{self.prefix}:pdiff:{champion_version}:{challenger_version}"

    def calibration(self, model_version: str) -> str:
        """Hash: the intervals' recalibration of one model version, ``theta:``/``sales:``/``missed:`` + term."""
        return f"{self.prefix}:calib:{model_version}"

    @property
    def calibration_versions(self) -> str:
        """Set: the model versions that have a recalibration state."""
        return f"{self.prefix}:calib:versions"

    def worker(self, name: str) -> str:
        """String with TTL: a live worker's heartbeat (JSON ``WorkerHeartbeat``)."""
        return f"{self.prefix}:worker:{name}"

    @property
    def workers_pattern(self) -> str:
        return f"{self.prefix}:worker:*"

    @property
    def rate_limit_namespace(self) -> str:
        return f"{self.prefix}:rl"
