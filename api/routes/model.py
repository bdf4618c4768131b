"""The model being served: name, version, training metrics, when it was registered and promoted."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CatalogDep
from api.errors import ApiError
from registry.errors import RegistryError
from schemas.api import ErrorBody
from schemas.registry import ModelPublic

router = APIRouter(tags=["model"])


@router.get(
    "/model",
    response_model=ModelPublic,
    responses={503: {"model": ErrorBody, "description": "No champion registered, or the registry is away."}},
)
async def get_model(catalog: CatalogDep) -> ModelPublic:
    """The registry's champion (the version workers switch to); cached for a few seconds."""
    try:
        return await catalog.champion()
    except RegistryError as exc:
        raise ApiError(503, "no_model", str(exc)) from exc
