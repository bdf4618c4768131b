"""One isolated deployment per test module: topics, Redis prefix, a worker process and the API."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from infra.settings import Settings
from schemas.features import EXAMPLE_HOUSE
from tests.conftest import WorkerProcess, isolated_settings

HOUSE: dict[str, Any] = EXAMPLE_HOUSE


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(step)
    return value


def connected_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.app.state.publisher.connected)  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="module")
def module_settings(base_settings: Settings, champion: str) -> Settings:
    return isolated_settings(base_settings, rate_limit="none")


@pytest.fixture(scope="module")
def worker(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    process = WorkerProcess(module_settings, 0, tmp_path_factory.mktemp("worker"))
    process.wait_ready()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(module_settings: Settings) -> Iterator[TestClient]:
    yield from connected_client(module_settings)


def poll(client: TestClient, url: str, timeout: float = 60.0, **kwargs: Any) -> dict[str, Any]:
    """GET ``url`` until its ``status`` (or ``state``) says it is no longer in progress."""

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(url, **kwargs).json()
        return body if body.get("status", body.get("state")) not in {"queued", "running"} else None

    result: dict[str, Any] = wait_until(finished, timeout, 0.05)
    return result


def scratch(tmp: Path, name: str) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp / name
