"""Prometheus exposition, with the feedback, rollout and recalibration gauges refreshed from the state store
on each scrape."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from api import calibration
from api.deps import CatalogDep, SettingsDep, StateDep
from api.feedback import export
from api.rollout import export_rollout
from state import StoreUnavailableError

log = structlog.get_logger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(store: StateDep, settings: SettingsDep, catalog: CatalogDep) -> Response:
    """Prometheus metrics: requests, latency and errors by route and status; model feedback accuracy, each
    variant's live figures and the intervals' recalibration."""
    try:
        for figures in await store.feedback.figures():
            export(figures)
        await export_rollout(store, catalog)
        await calibration.refresh(
            store.calibration, settings.calibration_learning_rate, settings.calibration_price_edges
        )
    except StoreUnavailableError as exc:
        log.warning("feedback_refresh_failed", error=str(exc))
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
