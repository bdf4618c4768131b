"""Dependencies as named aliases: ``StoreDep``, ``PublisherDep``, ``SettingsDep``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.publisher import RequestPublisher
from infra.settings import Settings
from infra.store import ResultStore


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> ResultStore:
    store: ResultStore = request.app.state.store
    return store


def get_publisher(request: Request) -> RequestPublisher:
    publisher: RequestPublisher = request.app.state.publisher
    return publisher


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ResultStore, Depends(get_store)]
PublisherDep = Annotated[RequestPublisher, Depends(get_publisher)]
