"""The FastAPI service: validate, assign ids, publish to Kafka, read state from Redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI
from prometheus_client import make_asgi_app

from api import errors
from api.metrics import observe
from api.publisher import RequestPublisher
from api.routes import health, predictions
from infra.kafka import create_broker
from infra.redis import create_redis
from infra.settings import Settings, get_settings
from infra.store import ResultStore
from schemas.keys import RedisKeys

DESCRIPTION = """
Values houses asynchronously: `POST /api/v1/predict` queues a house on Kafka and answers
`202` with its id; scoring workers write the result to Redis; `GET /api/v1/predictions/{id}`
reads it. Errors are JSON bodies with a `code`, a `message` and, for invalid input, the
fields at fault.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = create_redis(settings)
        app.state.settings = settings
        app.state.store = ResultStore(
            client, RedisKeys(settings.redis_prefix), settings.result_ttl_seconds, settings.feed_maxlen
        )
        publisher = RequestPublisher(create_broker(settings, client_id="api"), settings.requests_topic)
        app.state.publisher = publisher
        connecting = asyncio.create_task(publisher.connect_in_background())
        try:
            yield
        finally:
            connecting.cancel()
            await publisher.broker.stop()
            await client.aclose()

    app = FastAPI(
        title="valuestream",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    v1 = APIRouter(prefix="/api/v1")
    v1.include_router(predictions.router)
    v1.include_router(health.router)
    app.include_router(v1)
    app.mount("/metrics", make_asgi_app())
    app.middleware("http")(observe)
    errors.install(app)
    return app
