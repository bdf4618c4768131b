"""Liveness and readiness, with each dependency's state."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import PublisherDep, StateDep
from schemas.api import DependencyState, HealthPublic, WorkerHeartbeat
from state import StoreUnavailableError

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
@router.get("/health/ready", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def health(store: StateDep, publisher: PublisherDep) -> JSONResponse:
    """Readiness: 200 when Kafka, Redis and at least one worker with a model are up; 503 otherwise."""
    kafka_ok = await publisher.ping()
    kafka = DependencyState(ok=kafka_ok, detail="" if kafka_ok else "no connection to the brokers")
    workers: list[WorkerHeartbeat] = []
    try:
        await store.ping()
        redis = DependencyState(ok=True)
        workers = await store.heartbeats.live()
    except StoreUnavailableError as exc:
        redis = DependencyState(ok=False, detail=str(exc))
    serving = sorted({b.model.version for b in workers if b.model is not None})
    model = DependencyState(
        ok=bool(serving),
        detail=f"version {', '.join(serving)} served by {len(workers)} worker(s)"
        if serving
        else "no worker is serving a model",
    )
    ok = kafka.ok and redis.ok and model.ok
    body = HealthPublic(status="ok" if ok else "degraded", kafka=kafka, redis=redis, model=model, workers=workers)
    return JSONResponse(status_code=200 if ok else 503, content=body.model_dump(mode="json"))


@router.get("/health/live", response_model=dict[str, str])
async def live() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "alive"}
