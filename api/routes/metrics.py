"""Prometheus exposition, with the feedback gauges refreshed from Redis on each scrape."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from redis.exceptions import RedisError

from api import calibration
from api.deps import AccuracyDep, CalibrationDep, SettingsDep

log = structlog.get_logger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(accuracy: AccuracyDep, recalibration: CalibrationDep, settings: SettingsDep) -> Response:
    """Prometheus metrics: requests, latency and errors by route and status; model feedback accuracy and the
    intervals' recalibration."""
    try:
        await accuracy.refresh()
        await calibration.refresh(recalibration, settings.calibration_learning_rate, settings.calibration_price_edges)
    except RedisError as exc:
        log.warning("feedback_refresh_failed", error=type(exc).__name__)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
