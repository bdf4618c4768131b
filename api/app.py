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
from api.limits import BodyLimit
from api.metrics import Observe
from api.model_info import ModelCatalog
from api.openapi import contract
from api.publisher import RequestPublisher
from api.routes import batch, feedback, health, jobs, metrics, model, predictions, stream
from api.security import Access, RateLimits, authorize
from api.waiter import ResultWaiter
from infra.api_keys import KeyRing
from infra.kafka import create_broker, stop_within
from infra.memory import freeze_long_lived
from infra.settings import Settings, get_settings
from jobs.service import JobService
from schemas.api import ErrorBody
from state import State

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
    keyring = KeyRing.of(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = State.connect(settings)
        app.state.settings = settings
        app.state.store = store
        app.state.catalog = ModelCatalog(settings)
        app.state.waiter = waiter = ResultWaiter(store.feed, store.predictions)
        app.state.access = Access(keyring, RateLimits(settings, store.rate_limits()), settings.api_operator_key_id)
        publisher = RequestPublisher(
            create_broker(settings, client_id="api", linger_ms=settings.api_kafka_linger_ms),
            settings.requests_topic,
            settings.kafka_ack_timeout_seconds,
        )
        app.state.publisher = publisher
        app.state.jobs = JobService(store, publisher.publish, publisher.publish_chunks, settings.job_chunk_rows)
        connecting = asyncio.create_task(publisher.connect_in_background())
        freeze_long_lived()
        try:
            yield
        finally:
            connecting.cancel()
            await waiter.close()
            await stop_within(publisher.broker, settings.kafka_ack_timeout_seconds)
            await store.close()

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
