"""Single predictions: submit one house, read its state, erase it."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Query, Response

from api.deps import PublisherDep, SettingsDep, StateDep, ViewerDep, WaiterDep
from api.errors import ApiError
from api.headers import IdempotencyKey
from api.publisher import RequestPublisher
from infra.kafka import KafkaUnavailableError
from schemas.api import ErrorBody, FieldError, PredictionAccepted, PredictionCreate
from schemas.messages import PredictionRequest, PredictionResult
from schemas.valuation import REFUSED_CODE
from state import State, StoreUnavailableError, Viewer

router = APIRouter(tags=["predictions"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown or expired id, or created by another key."}
}
STORE_AWAY: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "The result store is not reachable; see Retry-After."}
}


def status_url(request_id: str) -> str:
    return f"/api/v1/predictions/{request_id}"


def accepted(result: PredictionResult) -> Response:
    if result.status != "queued":
        refuse_if_outside_model(result)
        return json_response(200, result.model_dump_json().encode())
    return queued_response(result.request_id)


def answered(raw: str) -> Response:
    """A finished result's JSON as the worker stored it; parsed only when it failed."""
    if '"status":"failed"' in raw:
        refuse_if_outside_model(PredictionResult.model_validate_json(raw))
    return json_response(200, raw.encode())


def refuse_if_outside_model(result: PredictionResult) -> None:
    """A house the model will not value (outside its market) is invalid input for it: 422 with the reason,
    reported on ``features`` as a whole like the schema's rules across fields. The request's record
    stays readable (``GET /predictions/{id}``: failed, with the same reason)."""
    if result.status == "failed" and result.error is not None and result.error.code == REFUSED_CODE:
        reason = result.error.message
        raise ApiError(422, REFUSED_CODE, reason, details=[FieldError(field="features", reason=reason)])


def json_response(status: int, content: bytes, headers: dict[str, str] | None = None) -> Response:
    return Response(content, status_code=status, headers=headers, media_type="application/json")


def queued_response(request_id: str) -> Response:
    url = status_url(request_id)
    body = orjson.dumps({"request_id": request_id, "status": "queued", "status_url": url})
    return json_response(202, body, {"Location": url})


@router.post(
    "/predict",
    status_code=202,
    response_model=PredictionAccepted,
    responses={
        200: {"model": PredictionResult, "description": "The result, ready within `wait` seconds."},
        409: {"model": ErrorBody, "description": "The client `request_id` belongs to another key."},
        422: {
            "model": ErrorBody,
            "description": (
                "Invalid house: which field, and why; or (code `outside_model_domain`, when waiting) a house "
                "the model refuses to value, such as a location outside its market."
            ),
        },
        503: {
            "model": ErrorBody,
            "description": "Kafka or the result store could not take the request; nothing was queued.",
        },
    },
)
async def predict(
    body: PredictionCreate,
    store: StateDep,
    publisher: PublisherDep,
    settings: SettingsDep,
    waiter: WaiterDep,
    viewer: ViewerDep,
    idempotency_key: IdempotencyKey = None,
    wait: float = Query(0.0, ge=0, le=60, description="Seconds to wait for the result (capped by the server)."),
) -> Response:
    """Queue one house for valuation; 202 with its id, or 200 with the result if ready within `wait`."""
    seconds = min(wait, settings.predict_wait_max_seconds)
    if body.request_id is None and idempotency_key is None:  # a fresh id: nothing to look up first
        request = PredictionRequest(request_id=uuid.uuid4().hex, source="rest", features=body.features)
        future = waiter.expect(request.request_id) if seconds > 0 and await waiter.ready() else None
        try:
            await queue(request, store, publisher, viewer, None)
            raw = None if future is None else await waiter.settle(future, seconds)
        finally:
            if future is not None:
                waiter.forget(request.request_id, future)
        if raw is not None:
            return answered(raw)
        return await latest(store, request.request_id) if future is not None else queued_response(request.request_id)
    request_id = await store.idempotency.claim(viewer.owner, idempotency_key, body.request_id or uuid.uuid4().hex)
    existing = await store.predictions.get(request_id)
    if existing is not None:
        if not viewer.sees(await store.predictions.owner(request_id, existing)):
            raise ApiError(409, "conflict", f"request id {request_id} is already in use")
    else:
        request = PredictionRequest(request_id=request_id, source="rest", features=body.features)
        await queue(request, store, publisher, viewer, idempotency_key)
    try:
        result = await waiter.wait(request_id, seconds)
    except StoreUnavailableError:
        return queued_response(request_id)  # it is in Kafka: its result lands once the store is back
    if result is None:
        raise ApiError(404, "not_found", f"no prediction {request_id}")
    return accepted(result)


async def latest(store: State, request_id: str) -> Response:
    """A request just handed to Kafka: its result if it has landed, else 202 (also while the store is away)."""
    try:
        fresh = await store.predictions.get(request_id)
    except StoreUnavailableError:
        fresh = None
    return queued_response(request_id) if fresh is None else accepted(fresh)


async def queue(
    request: PredictionRequest, store: State, publisher: RequestPublisher, viewer: Viewer, idempotency_key: str | None
) -> None:
    """Meta and queued record in one round trip, then Kafka; undone if Kafka refuses."""
    await store.predictions.accept([request], viewer.owner, queued=True)
    try:
        await publisher.publish([request])
    except KafkaUnavailableError as exc:
        await store.idempotency.release(viewer.owner, idempotency_key)
        await store.predictions.erase(request.request_id)
        raise ApiError(503, "kafka_unavailable", f"{exc}; the request was not queued, retry later.") from exc


async def visible_result(store: State, request_id: str, viewer: Viewer) -> PredictionResult:
    result = await store.predictions.get(request_id)
    if result is None or not viewer.sees(await store.predictions.owner(request_id, result)):
        raise ApiError(404, "not_found", f"no prediction {request_id}")
    return result


@router.get("/predictions/{request_id}", response_model=PredictionResult, responses=NOT_FOUND | STORE_AWAY)
async def get_prediction(request_id: str, store: StateDep, viewer: ViewerDep) -> PredictionResult:
    """State of one request: queued, done (price, intervals, contributions, model, timings) or failed (reason)."""
    return await visible_result(store, request_id, viewer)


@router.delete(
    "/predictions/{request_id}",
    status_code=204,
    responses=NOT_FOUND
    | STORE_AWAY
    | {409: {"model": ErrorBody, "description": "A row of a job: erase the job instead."}},
)
async def delete_prediction(request_id: str, store: StateDep, viewer: ViewerDep) -> Response:
    """Erase one request everywhere (record, metadata, feedback, live feed); a result still on its way is dropped."""
    await visible_result(store, request_id, viewer)
    await store.predictions.erase(request_id)
    return Response(status_code=204)
