"""Single predictions: submit one house, read its state."""

from __future__ import annotations

import asyncio
import time
import uuid

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import PublisherDep, SettingsDep, StoreDep
from api.errors import ApiError
from api.publisher import KafkaUnavailableError
from schemas.api import ErrorBody, PredictionAccepted, PredictionCreate
from schemas.messages import PredictionRequest, PredictionResult

router = APIRouter(tags=["predictions"])
POLL_SECONDS = 0.005


def status_url(request_id: str) -> str:
    return f"/api/v1/predictions/{request_id}"


def accepted(result: PredictionResult) -> JSONResponse:
    if result.status != "queued":
        return JSONResponse(status_code=200, content=result.model_dump(mode="json"))
    body = PredictionAccepted(
        request_id=result.request_id, status=result.status, status_url=status_url(result.request_id)
    )
    return JSONResponse(status_code=202, content=body.model_dump(), headers={"Location": body.status_url})


@router.post(
    "/predict",
    status_code=202,
    response_model=PredictionAccepted,
    responses={
        200: {"model": PredictionResult, "description": "The result, ready within `wait` seconds."},
        422: {"model": ErrorBody, "description": "Invalid house: which field, and why."},
        503: {"model": ErrorBody, "description": "Kafka could not take the request; nothing was queued."},
    },
)
async def predict(
    body: PredictionCreate,
    store: StoreDep,
    publisher: PublisherDep,
    settings: SettingsDep,
    wait: float = Query(0.0, ge=0, le=60, description="Seconds to wait for the result (capped by the server)."),
) -> JSONResponse:
    """Queue one house for valuation; 202 with its id, or 200 with the result if ready within `wait`."""
    request_id = body.request_id or uuid.uuid4().hex
    existing = await store.get(request_id)
    if existing is None:
        request = PredictionRequest(request_id=request_id, source="rest", features=body.features)
        try:
            await publisher.publish([request])
        except KafkaUnavailableError as exc:
            raise ApiError(503, "kafka_unavailable", f"{exc}; the request was not queued, retry later.") from exc
        await store.mark_queued([request])
    result = await wait_for_result(store, request_id, min(wait, settings.predict_wait_max_seconds))
    return accepted(result)


async def wait_for_result(store: StoreDep, request_id: str, wait: float) -> PredictionResult:
    deadline = time.monotonic() + wait
    while True:
        result = await store.get(request_id)
        if result is None:
            raise ApiError(404, "not_found", f"no prediction {request_id}")
        if result.status != "queued" or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(POLL_SECONDS)


@router.get(
    "/predictions/{request_id}",
    response_model=PredictionResult,
    responses={404: {"model": ErrorBody, "description": "Unknown or expired id."}},
)
async def get_prediction(request_id: str, store: StoreDep) -> PredictionResult:
    """State of one request: queued, done (price, intervals, contributions, model, timings) or failed (reason)."""
    result = await store.get(request_id)
    if result is None:
        raise ApiError(404, "not_found", f"no prediction {request_id}")
    return result
