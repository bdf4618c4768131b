"""Dependencies as named aliases: ``StoreDep``, ``PublisherDep``, ``SettingsDep``, ``RecordsDep``, …"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.feedback import Accuracy
from api.model_info import ModelCatalog
from api.publisher import RequestPublisher
from api.records import Records
from api.security import OwnerDep
from api.waiter import ResultWaiter
from infra.settings import Settings
from infra.store import ResultStore
from state.calibration import CalibrationStore


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> ResultStore:
    store: ResultStore = request.app.state.store
    return store


async def get_publisher(request: Request) -> RequestPublisher:
    publisher: RequestPublisher = request.app.state.publisher
    return publisher


async def get_records(request: Request) -> Records:
    records: Records = request.app.state.records
    return records


async def get_accuracy(request: Request) -> Accuracy:
    accuracy: Accuracy = request.app.state.accuracy
    return accuracy


async def get_calibration(request: Request) -> CalibrationStore:
    calibration: CalibrationStore = request.app.state.calibration
    return calibration


async def get_catalog(request: Request) -> ModelCatalog:
    catalog: ModelCatalog = request.app.state.catalog
    return catalog


async def get_waiter(request: Request) -> ResultWaiter:
    waiter: ResultWaiter = request.app.state.waiter
    return waiter


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ResultStore, Depends(get_store)]
PublisherDep = Annotated[RequestPublisher, Depends(get_publisher)]
RecordsDep = Annotated[Records, Depends(get_records)]
AccuracyDep = Annotated[Accuracy, Depends(get_accuracy)]
CalibrationDep = Annotated[CalibrationStore, Depends(get_calibration)]
CatalogDep = Annotated[ModelCatalog, Depends(get_catalog)]
WaiterDep = Annotated[ResultWaiter, Depends(get_waiter)]

__all__ = [
    "AccuracyDep",
    "CalibrationDep",
    "CatalogDep",
    "OwnerDep",
    "PublisherDep",
    "RecordsDep",
    "SettingsDep",
    "StoreDep",
    "WaiterDep",
]
