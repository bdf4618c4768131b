"""Dependencies as named aliases: ``StateDep``, ``JobsDep``, ``PublisherDep``, ``SettingsDep``, ``ViewerDep``, …"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.model_info import ModelCatalog
from api.publisher import RequestPublisher
from api.security import ViewerDep
from api.waiter import ResultWaiter
from infra.settings import Settings
from jobs.service import JobService
from state import State


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_state(request: Request) -> State:
    state: State = request.app.state.store
    return state


async def get_jobs(request: Request) -> JobService:
    jobs: JobService = request.app.state.jobs
    return jobs


async def get_publisher(request: Request) -> RequestPublisher:
    publisher: RequestPublisher = request.app.state.publisher
    return publisher


async def get_catalog(request: Request) -> ModelCatalog:
    catalog: ModelCatalog = request.app.state.catalog
    return catalog


async def get_waiter(request: Request) -> ResultWaiter:
    waiter: ResultWaiter = request.app.state.waiter
    return waiter


SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[State, Depends(get_state)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
PublisherDep = Annotated[RequestPublisher, Depends(get_publisher)]
CatalogDep = Annotated[ModelCatalog, Depends(get_catalog)]
WaiterDep = Annotated[ResultWaiter, Depends(get_waiter)]

__all__ = ["CatalogDep", "JobsDep", "PublisherDep", "SettingsDep", "StateDep", "ViewerDep", "WaiterDep"]
