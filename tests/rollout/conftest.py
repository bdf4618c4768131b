"""A champion and a challenger of one test's own model name, a worker serving both, and the API.

Versions are made from two artifacts registered once per session: the session champion's, and a
``ScaledModel`` of it (prices x ``FACTOR``), so the variants' answers differ by a known ratio.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from infra.settings import Settings
from registry.client import configure
from registry.loading import load_pyfunc
from registry.promotion import promote
from schemas import PredictionResult
from tests.api.conftest import connected_client
from tests.conftest import WorkerProcess, isolated_settings
from tests.consumers.conftest import RedisView, as_message, produce, requests_for, wait_until
from tests.rollout.scaled import ScaledModel

FACTOR = 1.2


@dataclass(frozen=True)
class Sources:
    champion: str
    scaled: str


@pytest.fixture(scope="session")
def sources(base_settings: Settings, champion: str) -> Sources:
    """The champion's artifact, and the scaled one (registered once under a model name of its own)."""
    import mlflow.pyfunc

    client = configure(base_settings)
    source = client.get_model_version(base_settings.model_name, champion).source
    assert source is not None
    inner = load_pyfunc(base_settings, version=champion).unwrap_python_model()  # type: ignore[no-untyped-call]
    info = mlflow.pyfunc.log_model(
        name="scaled",
        python_model=ScaledModel(inner, FACTOR),
        registered_model_name=f"scaled-{uuid.uuid4().hex[:6]}",
        pip_requirements=[],
    )
    return Sources(champion=source, scaled=info.model_uri)


@dataclass
class Lineup:
    settings: Settings
    client: Any
    view: RedisView

    def version(self, source: str) -> str:
        return str(self.client.create_model_version(self.settings.model_name, source).version)

    def alias(self, alias: str, version: str) -> None:
        promote(self.settings, version, alias)

    def answers(self, count: int, prefix: str, timeout: float = 90) -> list[PredictionResult]:
        """``count`` requests produced straight to Kafka, and their answers once all are in."""
        requests = requests_for(count, prefix)
        produce(self.settings, [as_message(r) for r in requests])
        ids = [r.request_id for r in requests]
        wait_until(lambda: self.view.answered(ids) == count, timeout, f"{prefix} answered")
        return [r for r in self.view.results(ids) if r is not None]


def lineup_for(base: Settings, sources: Sources, **overrides: object) -> tuple[Lineup, str, str]:
    """A model name of its own with champion (v1) and challenger (v2, scaled); returns both versions."""
    settings = isolated_settings(
        base, model_name=f"rollout-{uuid.uuid4().hex[:6]}", model_poll_seconds=1.0, rate_limit="none", **overrides
    )
    client = configure(settings)
    client.create_registered_model(settings.model_name)
    lineup = Lineup(settings, client, RedisView(settings))
    champion = lineup.version(sources.champion)
    lineup.alias(settings.model_alias, champion)
    challenger = lineup.version(sources.scaled)
    lineup.alias(settings.challenger_alias, challenger)
    return lineup, champion, challenger


@pytest.fixture
def api_for() -> Iterator[Any]:
    """Opens the API on a lineup's settings; closed at the end of the test."""
    opened: list[Iterator[TestClient]] = []

    def open_api(settings: Settings) -> TestClient:
        clients = connected_client(settings)
        opened.append(clients)
        return next(clients)

    yield open_api
    for clients in opened:
        for _ in clients:  # runs the generator's exit (the app's shutdown)
            pass


def log_has(worker: WorkerProcess, text: str) -> bool:
    return text in Path(worker.log).read_text()
