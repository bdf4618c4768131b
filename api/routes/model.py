"""The model being served: name, version, training metrics, when it was registered and promoted."""

from __future__ import annotations

import asyncio
import functools

from fastapi import APIRouter

from api.deps import CatalogDep, SettingsDep, StateDep
from api.errors import ApiError
from api.rollout import live_rollout
from infra.recalibration import start_of
from ratios.study import live_study
from registry.errors import RegistryError
from schemas.api import ErrorBody
from schemas.ratio_study import RatioStudy, SaleObservation
from schemas.registry import ModelPublic
from state import StoreUnavailableError

router = APIRouter(tags=["model"])


@functools.lru_cache(maxsize=8)
def observed_study(observations: tuple[str, ...]) -> RatioStudy:
    """The live ratio study, computed once per set of observations (its bootstrap is the costly part)."""
    return live_study([SaleObservation.model_validate_json(raw) for raw in observations])


@router.get(
    "/model",
    response_model=ModelPublic,
    responses={503: {"model": ErrorBody, "description": "No champion registered, or the registry is away."}},
)
async def get_model(catalog: CatalogDep, store: StateDep, settings: SettingsDep) -> ModelPublic:
    """The registry's champion (the version workers switch to; cached for a few seconds), its intervals'
    recalibration state, the ratio study of the sale prices fed back for its valuations, and the
    rollout: the challenger beside it, each variant's live figures, promotions and rollbacks."""
    try:
        model = await catalog.champion()
    except RegistryError as exc:
        raise ApiError(503, "no_model", str(exc)) from exc
    try:
        state = await store.calibration.public(
            model.version,
            settings.calibration_learning_rate,
            settings.calibration_price_edges,
            start_of(model.metrics),
        )
        observed = await store.feedback.observations(model.version)
        rollout = None if model.rollout is None else await live_rollout(store, model.version, model.rollout)
    except StoreUnavailableError:  # the registry's answer stands without it
        return model
    live = await asyncio.to_thread(observed_study, tuple(o.model_dump_json() for o in observed)) if observed else None
    return model.model_copy(update={"calibration": state, "live_ratio_study": live, "rollout": rollout})
