"""The FastAPI service: validate, assign ids, publish to Kafka, read state from Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from api import errors
from api.feedback import Accuracy
from api.limits import BodyLimit
from api.metrics import Observe
from api.model_info import ModelCatalog
from api.openapi import contract
from api.publisher import RequestPublisher
from api.records import Records
from api.routes import batch, feedback, health, jobs, metrics, model, predictions, stream
from api.security import Access, KeyRing, RateLimits, authorize
from api.waiter import ResultWaiter
from infra.kafka import create_broker, stop_within
from infra.memory import freeze_long_lived
from infra.redis import create_redis
from infra.settings import Settings, get_settings
from infra.store import ResultStore
from schemas.api import ErrorBody
from schemas.keys import RedisKeys
from schemas.rest_keys import RestKeys
from state.calibration import CalibrationStore

DESCRIPTION = """
Values houses asynchronously: `POST /api/v1/predict` queues a house on Kafka and answers
`202` with its id; scoring workers write the result to Redis; `GET /api/v1/predictions/{id}`
reads it. `POST /api/v1/batch` (JSON) and `POST /api/v1/jobs` (CSV or Parquet file) queue
many houses as a job, followed with `GET /api/v1/jobs/{id}` and downloaded in input order;
`GET /api/v1/stream` pushes results as they land (Server-Sent Events).

Errors are JSON bodies with a `code`, a `message` and, for invalid input, the fields at
fault. When API keys are configured, send `X-API-Key`; a key sees only what it created.
"""
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    rest_keys = RestKeys(settings.redis_prefix)
    keyring = KeyRing(settings.api_key_salt.get_secret_value(), settings.api_keys)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = create_redis(settings)
        store = ResultStore(client, RedisKeys(settings.redis_prefix), settings.result_ttl_seconds, settings.feed_maxlen)
        app.state.settings = settings
        app.state.store = store
        app.state.records = Records(store, rest_keys, keyring.enabled)
        app.state.accuracy = Accuracy(client, rest_keys)
        app.state.calibration = CalibrationStore(client, settings.redis_prefix)
        app.state.catalog = ModelCatalog(settings)
        app.state.waiter = waiter = ResultWaiter(store)
        app.state.access = Access(keyring, RateLimits(settings, rest_keys.rate_limit_namespace))
        publisher = RequestPublisher(
            create_broker(settings, client_id="api", linger_ms=settings.api_kafka_linger_ms),
            settings.requests_topic,
            settings.kafka_ack_timeout_seconds,
        )
        app.state.publisher = publisher
        connecting = asyncio.create_task(publisher.connect_in_background())
        freeze_long_lived()
        try:
            yield
        finally:
            connecting.cancel()
            await waiter.close()
            await stop_within(publisher.broker, settings.kafka_ack_timeout_seconds)
            await client.aclose()

    app = FastAPI(title="valuestream", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    guarded = [Depends(authorize)]
    access_errors: dict[int | str, dict[str, Any]] = {
        429: {"model": ErrorBody, "description": "Rate limit reached; see Retry-After."},
    }
    if keyring.enabled:
        access_errors[401] = {"model": ErrorBody, "description": "X-API-Key is missing or wrong."}
    v1 = APIRouter(prefix="/api/v1")
    for resource in (predictions, batch, jobs, stream, model, feedback):
        v1.include_router(resource.router, dependencies=guarded, responses=access_errors)
    v1.include_router(health.router)
    v1.include_router(metrics.router)
    app.include_router(v1)
    app.include_router(metrics.router, include_in_schema=False)
    app.add_middleware(Observe)
    app.add_middleware(BodyLimit, json_bytes=settings.api_max_json_bytes, upload_bytes=settings.api_max_upload_bytes)
    errors.install(app)
    app.add_exception_handler(405, on_method_not_allowed)
    app.openapi = contract(app, keyring.enabled)  # type: ignore[method-assign]
    return app


async def on_method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 whose ``Allow`` names every method of the path (Starlette names only the first route's)."""
    assert isinstance(exc, HTTPException)
    routes = request.app.router.routes
    allowed = [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]
    headers = dict(exc.headers or {}) | ({"Allow": ", ".join(allowed)} if allowed else {})
    return await errors.on_http_error(request, HTTPException(405, exc.detail, headers))
