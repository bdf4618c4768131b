"""The model being served: name, version, training metrics, when it was registered and promoted."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CatalogDep, SettingsDep, StateDep
from api.errors import ApiError
from registry.errors import RegistryError
from schemas.api import ErrorBody
from schemas.registry import ModelPublic
from state import StoreUnavailableError

router = APIRouter(tags=["model"])


@router.get(
    "/model",
    response_model=ModelPublic,
    responses={503: {"model": ErrorBody, "description": "No champion registered, or the registry is away."}},
)
async def get_model(catalog: CatalogDep, store: StateDep, settings: SettingsDep) -> ModelPublic:
    """The registry's champion (the version workers switch to; cached for a few seconds) and its intervals'
    recalibration state."""
    try:
        model = await catalog.champion()
    except RegistryError as exc:
        raise ApiError(503, "no_model", str(exc)) from exc
    try:
        state = await store.calibration.public(
            model.version, settings.calibration_learning_rate, settings.calibration_price_edges
        )
    except StoreUnavailableError:  # the registry's answer stands without it
        return model
    return model.model_copy(update={"calibration": state})
