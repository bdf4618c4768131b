"""Score a batch of requests with one vectorised model call; a failing row fails alone.

A house the model refuses (outside its market: ``refusal`` in the model's answer) is a failed
result with code ``outside_model_domain`` and the model's reason, on the results topic and in
Redis like any other failure; the API's ``POST /predict?wait=`` answers it as a 422.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import structlog

from consumers.metrics import SCORING_SECONDS
from consumers.model import LoadedModel, features_frame
from consumers.recalibration import Recalibrator, served_intervals
from schemas import (
    Applicability,
    Comparable,
    Contribution,
    ErrorInfo,
    Interval,
    PredictionRequest,
    PredictionResult,
    Subject,
    Timings,
    utc_now,
)
from schemas.calibration import Segment
from schemas.valuation import REFUSED_CODE

log = structlog.get_logger(__name__)


def _result(
    request: PredictionRequest,
    row: pd.Series[Any],
    model: LoadedModel,
    inference_ms: float,
    intervals: list[Interval],
    segment: Segment | None,
) -> PredictionResult:
    if isinstance(row["refusal"], str):
        return failed(request, REFUSED_CODE, row["refusal"], model, inference_ms)
    return PredictionResult(
        request_id=request.request_id,
        job_id=request.job_id,
        row=request.row,
        source=request.source,
        status="done",
        price=float(row["price"]),
        intervals=intervals,
        fsd=float(row["fsd"]),
        confidence=float(row["confidence"]),
        confidence_band=row["confidence_band"],
        applicability=Applicability.model_validate(row["applicability"]),
        months_beyond_data=int(row["months_beyond_data"]),
        base_price=float(row["base_price"]),
        contributions=[Contribution.model_validate(c) for c in row["contributions"]],
        comparables=[Comparable.model_validate(c) for c in row["comparables"]],
        model=model.ref,
        subject=Subject.of(request.features),
        segment=segment,
        timings=timings(request, inference_ms),
    )


def timings(request: PredictionRequest, inference_ms: float | None) -> Timings:
    scored_at = utc_now()
    return Timings(
        submitted_at=request.submitted_at,
        scored_at=scored_at,
        queue_ms=max(0.0, (scored_at - request.submitted_at).total_seconds() * 1000 - (inference_ms or 0.0)),
        inference_ms=inference_ms,
    )


def failed(
    request: PredictionRequest, code: str, message: str, model: LoadedModel | None, inference_ms: float | None = None
) -> PredictionResult:
    return PredictionResult(
        request_id=request.request_id,
        job_id=request.job_id,
        row=request.row,
        source=request.source,
        status="failed",
        model=None if model is None else model.ref,
        subject=Subject.of(request.features),
        timings=timings(request, inference_ms),
        error=ErrorInfo(code=code, message=message),
    )


def _score_rows(
    model: LoadedModel,
    requests: Sequence[PredictionRequest],
    frame: pd.DataFrame,
    recalibrator: Recalibrator | None,
) -> list[PredictionResult]:
    started = time.perf_counter()
    output = model.predict(frame)
    inference_ms = (time.perf_counter() - started) * 1000
    SCORING_SECONDS.observe(inference_ms / 1000)
    intervals, segments = served_intervals(recalibrator, model.ref.version, [r.features for r in requests], output)
    return [
        _result(request, output.iloc[i], model, inference_ms, intervals[i], segments[i])
        for i, request in enumerate(requests)
    ]


def score(
    model: LoadedModel,
    requests: Sequence[PredictionRequest],
    frame: pd.DataFrame | None = None,
    recalibrator: Recalibrator | None = None,
) -> list[PredictionResult]:
    """``frame``: the requests' features as built by ``features_frame``, when the caller has it already;
    ``recalibrator``: rescales the intervals by the online recalibration state (none: as the model says)."""
    if not requests:
        return []
    if frame is None:
        frame = features_frame([r.features for r in requests])
    try:
        return _score_rows(model, requests, frame, recalibrator)
    except Exception as exc:
        log.warning("batch_scoring_failed", size=len(requests), error=str(exc))
    results = []
    for i, request in enumerate(requests):
        try:
            results.extend(_score_rows(model, [request], frame.iloc[[i]], recalibrator))
        except Exception as exc:
            log.warning("row_scoring_failed", request_id=request.request_id, error=str(exc))
            results.append(failed(request, "model_error", f"the model could not score this house: {exc}", model))
    return results
