"""Hot reload: a moved alias switches the served version between batches; a broken version is refused.

Each test registers its own model name (versions made from the session champion's artifact), so
moving its alias never touches the champion other tests serve.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumers.model import ModelHolder
from dataset.sales import load
from drift.psi import build_reference
from infra import stack
from infra.settings import Settings, to_env
from registry.client import EXPERIMENT, connect
from registry.promotion import promote
from schemas.drift import DRIFT_REFERENCE_ARTIFACT
from tests.conftest import REPO, StartWorker, isolated_settings
from tests.consumers.conftest import RedisView, as_message, produce, requests_for, wait_until

pytestmark = pytest.mark.integration


@dataclass
class Registry:
    settings: Settings
    client: Any
    source: str

    def version(self, source: str | None = None, drift_reference: bool = False) -> str:
        """A new version of the test's model: the champion's artifact unless ``source`` says otherwise."""
        run_id = None
        if drift_reference:
            experiment = self.client.get_experiment_by_name(EXPERIMENT)
            assert experiment is not None
            run_id = self.client.create_run(experiment.experiment_id).info.run_id
            # Fallback for tests: the training run is expected to log this artifact itself.
            reference = build_reference(load().features)
            self.client.log_dict(run_id, reference.model_dump(mode="json"), DRIFT_REFERENCE_ARTIFACT)
            self.client.set_terminated(run_id)
        created = self.client.create_model_version(self.settings.model_name, source or self.source, run_id=run_id)
        return str(created.version)

    def promote(self, version: str) -> None:
        promote(self.settings, version)


@pytest.fixture
def registry(base_settings: Settings, champion: str) -> Registry:
    settings = isolated_settings(base_settings, model_name=f"reload-{uuid.uuid4().hex[:6]}", model_poll_seconds=1.0)
    client = connect(settings)
    source = client.get_model_version(base_settings.model_name, champion).source
    assert source is not None
    client.create_registered_model(settings.model_name)
    return Registry(settings, client, source)


def versions_served(settings: Settings, view: RedisView, prefix: str, count: int = 5) -> set[str]:
    requests = requests_for(count, prefix)
    produce(settings, [as_message(r) for r in requests])
    ids = [r.request_id for r in requests]
    wait_until(lambda: view.answered(ids) == count, 60, f"{prefix} answered")
    return {r.model.version for r in view.results(ids) if r is not None and r.model is not None}


def test_moved_alias_switches_version_and_a_broken_version_is_refused(
    registry: Registry, start_worker: StartWorker, tmp_path: Path
) -> None:
    settings = registry.settings
    view = RedisView(settings)
    registry.promote(registry.version())
    worker = start_worker(settings)
    assert versions_served(settings, view, "before") == {"1"}

    registry.promote(registry.version())
    wait_until(lambda: '"version": "2"' in worker.log.read_text(), 60, "version 2 loaded")
    assert versions_served(settings, view, "after") == {"2"}

    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "MLmodel").write_text("flavors: {}\n")
    registry.promote(registry.version(source=str(broken)))
    wait_until(lambda: "model_load_failed" in worker.log.read_text(), 60, "broken version refused")
    assert versions_served(settings, view, "broken") == {"2"}
    assert worker.process.poll() is None


def test_the_reference_distribution_comes_with_the_model(registry: Registry) -> None:
    registry.promote(registry.version())
    holder = ModelHolder(registry.settings)
    assert holder.refresh()
    reference = holder.current.drift_reference
    assert reference is not None
    assert "gr_liv_area" in reference.numeric
    assert "neighborhood" in reference.categorical


@pytest.fixture
def metrics_worker(registry: Registry, tmp_path: Path) -> Iterator[int]:
    """A worker serving a version with a drift reference, its metrics port open (the shared fixture opens none)."""
    registry.promote(registry.version(drift_reference=True))
    port = stack.free_port()
    log = tmp_path / "metrics-worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "consumers", "--index", "0", "--metrics-port", str(port)],
        cwd=REPO,
        env=os.environ | to_env(registry.settings),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: stack.port_open(port) or process.poll() is not None, 90, "metrics port open")
        assert process.poll() is None, stack.tail(log, 40)
        yield port
    finally:
        stack.stop_process_group(process.pid, timeout=20.0, alive=lambda: process.poll() is None)
        process.wait()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_worker_exports_lag_drift_and_model_metrics(registry: Registry, metrics_worker: int) -> None:
    settings = registry.settings
    view = RedisView(settings)
    requests = requests_for(400, "metrics")
    produce(settings, [as_message(r) for r in requests])
    wait_until(lambda: view.answered([r.request_id for r in requests]) == 400, 60, "scored")

    def ready() -> bool:
        samples = scrape(metrics_worker)
        lags = [k for k in samples if k[0] == "valuestream_worker_consumer_lag"]
        psi = [k for k in samples if k[0] == "valuestream_worker_feature_psi"]
        return len(lags) == settings.kafka_partitions and bool(psi)

    wait_until(ready, 40, "lag and drift gauges")
    time.sleep(0.1)
    samples = scrape(metrics_worker)
    lags = {dict(k[1])["partition"]: v for k, v in samples.items() if k[0] == "valuestream_worker_consumer_lag"}
    assert set(lags) == {str(p) for p in range(settings.kafka_partitions)}
    assert all(v == 0 for v in lags.values())  # everything fetched
    psi = {dict(k[1])["feature"]: v for k, v in samples.items() if k[0] == "valuestream_worker_feature_psi"}
    assert {"gr_liv_area", "neighborhood", "year_built"} <= set(psi)
    # The test houses default every unsent field to one value: a shift the gauge must show.
    assert psi["lot_frontage"] > 0.2
    assert samples[("valuestream_worker_model_version", ())] == 1.0
    assert samples[("valuestream_worker_messages_total", (("outcome", "done"),))] == 400
    assert samples[("valuestream_worker_batch_size_count", ())] >= 1
    assert samples[("valuestream_worker_end_to_end_seconds_count", ())] == 400
