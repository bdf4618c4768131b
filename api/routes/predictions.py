"""Single predictions: submit one house, read its state, erase it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from api.deps import OwnerDep, PublisherDep, RecordsDep, SettingsDep, StoreDep, WaiterDep
from api.errors import ApiError
from api.idempotency import IdempotencyKey, claim, release
from api.publisher import KafkaUnavailableError
from infra.store import ResultStore
from schemas.api import ErrorBody, PredictionAccepted, PredictionCreate
from schemas.messages import PredictionRequest, PredictionResult

router = APIRouter(tags=["predictions"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown or expired id, or created by another key."}
}


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
        409: {"model": ErrorBody, "description": "The client `request_id` belongs to another key."},
        422: {"model": ErrorBody, "description": "Invalid house: which field, and why."},
        503: {"model": ErrorBody, "description": "Kafka could not take the request; nothing was queued."},
    },
)
async def predict(
    body: PredictionCreate,
    store: StoreDep,
    publisher: PublisherDep,
    records: RecordsDep,
    settings: SettingsDep,
    waiter: WaiterDep,
    owner: OwnerDep,
    idempotency_key: IdempotencyKey = None,
    wait: float = Query(0.0, ge=0, le=60, description="Seconds to wait for the result (capped by the server)."),
) -> JSONResponse:
    """Queue one house for valuation; 202 with its id, or 200 with the result if ready within `wait`."""
    chosen = body.request_id is not None or idempotency_key is not None
    request_id = await claim(store, owner, idempotency_key, body.request_id or uuid.uuid4().hex)
    existing = await store.get(request_id) if chosen else None  # a fresh uuid cannot exist yet
    if existing is not None:
        if not records.visible(await records.request_owner(request_id, existing), owner):
            raise ApiError(409, "conflict", f"request id {request_id} is already in use")
    else:
        request = PredictionRequest(request_id=request_id, source="rest", features=body.features)
        await records.remember([request], owner)
        try:
            await publisher.publish([request])
        except KafkaUnavailableError as exc:
            await release(store, owner, idempotency_key)
            await records.erase_request(request_id)
            raise ApiError(503, "kafka_unavailable", f"{exc}; the request was not queued, retry later.") from exc
        await store.mark_queued([request])
    result = await waiter.wait(request_id, min(wait, settings.predict_wait_max_seconds))
    if result is None:
        raise ApiError(404, "not_found", f"no prediction {request_id}")
    return accepted(result)


async def visible_result(store: ResultStore, records: RecordsDep, request_id: str, owner: str) -> PredictionResult:
    result = await store.get(request_id)
    if result is None or not records.visible(await records.request_owner(request_id, result), owner):
        raise ApiError(404, "not_found", f"no prediction {request_id}")
    return result


@router.get("/predictions/{request_id}", response_model=PredictionResult, responses=NOT_FOUND)
async def get_prediction(request_id: str, store: StoreDep, records: RecordsDep, owner: OwnerDep) -> PredictionResult:
    """State of one request: queued, done (price, intervals, contributions, model, timings) or failed (reason)."""
    return await visible_result(store, records, request_id, owner)


@router.delete("/predictions/{request_id}", status_code=204, responses=NOT_FOUND)
async def delete_prediction(request_id: str, store: StoreDep, records: RecordsDep, owner: OwnerDep) -> Response:
    """Erase one request's record and metadata from Redis now."""
    await visible_result(store, records, request_id, owner)
    await records.erase_request(request_id)
    return Response(status_code=204)
