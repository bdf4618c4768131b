"""Which variant answers which request, and the challenger's shadow answers.

- No challenger loaded: the champion answers everything (the path of a worker without rollout).
- Canary: a request whose id hashes below ``canary_share`` is answered by the challenger. The hash
  makes the choice sticky: a retry or a redelivery of the same id meets the same model. A row the
  challenger fails on (a model error, not a refusal) is answered by the champion instead.
- The other variant (``shadow``): the shadow scorer (``consumers.shadow``, a process of its own)
  scores the requests whose id hashes below ``shadow_share`` with the variant that did not answer
  them, once their answers are stored: the challenger in shadow mode (its answers are kept beside
  the champion's, never returned), either one in canary mode. Both give the price differences.
  A shadow answer's intervals are recalibrated by its own version's state, as a worker serving that
  version would (``consumers.recalibration.served_intervals``), and carry their segment: a sale fed back for the request
  moves the challenger's state too (``api.routes.feedback``), so its coverage figures compare with
  the champion's like for like, and a challenger promoted after a shadow period starts from what the
  sales taught it.

Everything here is synchronous model work, run in a thread by the worker or the shadow scorer.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import structlog

from consumers.metrics import PRICE_DIFFERENCE_PCT, VARIANT_REQUESTS, VARIANT_SCORING_SECONDS
from consumers.model import LoadedModel, ModelHolder, features_frame
from consumers.recalibration import Recalibrator, served_intervals
from consumers.scoring import score
from infra.settings import Settings
from schemas import AnswerHead, ModelRef, PredictionRequest, PredictionResult, utc_now
from schemas.calibration import Segment
from schemas.rollout import ShadowAnswer
from schemas.valuation import REFUSED_CODE

log = structlog.get_logger(__name__)

FALLBACK_CODE = "model_error"
"""A challenger's failure with this code is answered by the champion instead (a refusal stands)."""


def bucket(request_id: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by the request id (and the salt: canary and shadow draw apart)."""
    digest = hashlib.sha256(f"{salt}:{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_share(request_id: str, salt: str, share: float) -> bool:
    return share > 0 and bucket(request_id, salt) < share


@dataclass
class Routed:
    """A batch's answers in request order, the frame they were scored from and each version's model time."""

    results: list[PredictionResult]
    frame: pd.DataFrame | None
    latencies_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class ShadowBatch:
    """One variant's answers to requests the other variant answered, and the challenger's % price
    differences from the champion's on them."""

    model: ModelRef
    request_ids: list[str]
    answers: list[ShadowAnswer]
    champion_version: str
    challenger_version: str
    differences: list[float]
    latency_ms: float | None  # the model time at full detail; None for a batch scored at summary


@dataclass
class ShadowRun:
    """The shadow batches of some requests (one per variant that scored), and how many were answered by a
    version served no more (not scored)."""

    batches: list[ShadowBatch]
    version_moved: int


class VariantRouter:
    def __init__(
        self,
        settings: Settings,
        champion: ModelHolder,
        challenger: ModelHolder | None = None,
        recalibrator: Recalibrator | None = None,
    ) -> None:
        self.settings = settings
        self.champion = champion
        self.challenger = challenger
        self.recalibrator = recalibrator

    @property
    def rollout_on(self) -> bool:
        """A challenger other than the champion is loaded."""
        return self._challenger() is not None

    def _challenger(self) -> LoadedModel | None:
        loaded = None if self.challenger is None else self.challenger.serving
        if loaded is None or loaded.ref.version == self.champion.current.ref.version:
            return None
        return loaded

    def _score(
        self, model: LoadedModel, requests: Sequence[PredictionRequest], frame: pd.DataFrame
    ) -> tuple[list[PredictionResult], float]:
        started = time.perf_counter()
        results = score(model, requests, frame, self.recalibrator)
        seconds = time.perf_counter() - started
        VARIANT_SCORING_SECONDS.labels(model.ref.variant).observe(seconds)
        return results, seconds * 1000

    def answer(self, requests: Sequence[PredictionRequest]) -> Routed:
        """Every request's answer (champion's, or the challenger's for a canary's share)."""
        if not requests:
            return Routed([], None)
        champion = self.champion.current
        challenger = self._challenger()
        frame = features_frame([r.features for r in requests])
        canary = challenger is not None and self.settings.rollout_mode == "canary"
        chosen = [canary and in_share(r.request_id, "canary", self.settings.canary_share) for r in requests]
        latencies: dict[str, float] = {}
        results: list[PredictionResult | None] = [None] * len(requests)
        if challenger is not None and any(chosen):
            picked = [i for i, c in enumerate(chosen) if c]
            answers, latencies[challenger.ref.version] = self._score(
                challenger, [requests[i] for i in picked], frame.iloc[picked]
            )
            for i, result in zip(picked, answers, strict=True):
                if not (result.error is not None and result.error.code == FALLBACK_CODE):
                    results[i] = result
        rest = [i for i, r in enumerate(results) if r is None]
        if rest:
            everyone = len(rest) == len(requests)  # the usual case: no copy of the frame
            answers, millis = self._score(
                champion, requests if everyone else [requests[i] for i in rest], frame if everyone else frame.iloc[rest]
            )
            if challenger is not None:
                latencies[champion.ref.version] = millis
            for i, result in zip(rest, answers, strict=True):
                results[i] = result
        final = [r for r in results if r is not None]
        for result in final:
            VARIANT_REQUESTS.labels(result.model.variant if result.model else "champion", "answer").inc()
        return Routed(final, frame, latencies)

    def shadow(
        self, requests: Sequence[PredictionRequest], answers: Sequence[AnswerHead], *, timed: bool = True
    ) -> ShadowRun:
        """Each request scored by the variant that did not answer it (``answers``: the stored answers, in
        order): the challenger where the champion answered, the champion where the challenger did (canary).
        ``timed``: at full detail, as the workers answer, so its model time is a latency figure comparable
        with theirs; otherwise at ``summary`` (price and intervals, all a shadow keeps), in about half the time."""
        challenger = self._challenger()
        if challenger is None or not requests:
            return ShadowRun([], 0)
        champion = self.champion.current
        groups: dict[str, list[int]] = {champion.ref.version: [], challenger.ref.version: []}
        moved = 0
        for i, answer in enumerate(answers):
            if answer.model is not None and answer.model.version in groups:
                groups[answer.model.version].append(i)
            else:  # answered by a version served no more (an alias moved meanwhile)
                moved += 1
        frame = features_frame([r.features for r in requests])
        batches = []
        for answered_by, other in ((champion, challenger), (challenger, champion)):
            if picked := groups[answered_by.ref.version]:
                batches.append(
                    self._shadow_batch(
                        other,
                        (champion.ref.version, challenger.ref.version),
                        [requests[i] for i in picked],
                        frame.iloc[picked],
                        [answers[i] for i in picked],
                        timed,
                    )
                )
        return ShadowRun(batches, moved)

    def _shadow_batch(
        self,
        model: LoadedModel,
        versions: tuple[str, str],
        requests: Sequence[PredictionRequest],
        frame: pd.DataFrame,
        answers: Sequence[AnswerHead],
        timed: bool,
    ) -> ShadowBatch:
        started = time.perf_counter()
        # Only the price and interval columns are kept (no result records to build).
        segments: list[Segment | None]
        try:
            output = model.predict(frame, detail="full" if timed else "summary")
            prices: list[float | None] = [
                None if isinstance(r, str) else float(p)
                for p, r in zip(output["price"].tolist(), output["refusal"].tolist(), strict=True)
            ]
            houses = [r.features for r in requests]
            bounds, segments = served_intervals(self.recalibrator, model.ref.version, houses, output)
            error = None
        except Exception as exc:
            log.warning("shadow_scoring_failed", variant=model.ref.variant, size=len(requests), error=repr(exc)[:300])
            prices, bounds, error = [None] * len(requests), [[] for _ in requests], FALLBACK_CODE
            segments = [None] * len(requests)
        millis = (time.perf_counter() - started) * 1000
        if timed:
            VARIANT_SCORING_SECONDS.labels(model.ref.variant).observe(millis / 1000)
        scored_at = utc_now()
        shadows, differences = [], []
        for k, answer in enumerate(answers):
            price = prices[k]
            shadows.append(
                ShadowAnswer(
                    model=model.ref,
                    price=price,
                    intervals=bounds[k] if price is not None else [],
                    segment=segments[k] if price is not None else None,
                    error_code=error if error else (None if price is not None else REFUSED_CODE),
                    inference_ms=millis,
                    scored_at=scored_at,
                )
            )
            if answer.price and price:  # the challenger's price against the champion's, whichever answered
                ratio = price / answer.price if model.ref.variant == "challenger" else answer.price / price
                difference = (ratio - 1) * 100
                differences.append(difference)
                PRICE_DIFFERENCE_PCT.observe(abs(difference))
        VARIANT_REQUESTS.labels(model.ref.variant, "shadow").inc(len(requests))
        latency = millis if timed else None
        return ShadowBatch(model.ref, [r.request_id for r in requests], shadows, *versions, differences, latency)
