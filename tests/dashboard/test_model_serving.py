"""The model page says which version the workers serve and how the latest training is going."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from infra.settings import Settings
from infra.training_status import read_status, status_path
from schemas import ModelRef, utc_now
from schemas.api import WorkerHeartbeat
from state.keys import Keys
from tests.dashboard.conftest import page, use
from training.progress import Progress

pytestmark = pytest.mark.integration


@pytest.fixture
def own_state(base_settings: Settings, champion: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The session's registry and Redis, with a state folder (training record) and key prefix of its own."""
    settings = base_settings.model_copy(
        update={
            "state_dir": tmp_path,
            "mlflow_tracking_uri": base_settings.tracking_uri,
            "redis_prefix": f"ms{tmp_path.name}",
        }
    )
    beat = WorkerHeartbeat(
        name="worker-0@here", model=ModelRef(name=settings.model_name, version=champion), seen_at=utc_now()
    )
    redis.Redis.from_url(settings.redis_url).set(
        Keys(settings.redis_prefix).worker(beat.name), beat.model_dump_json(), ex=60
    )
    return use(settings, monkeypatch)


def test_model_page_shows_the_background_training_and_the_served_version(own_state: Settings, champion: str) -> None:
    progress = Progress(status_path(own_state), "full")
    progress.plan(8)
    progress.stage("year-ahead check 2008")
    at = page("model").run()
    assert not at.exception, [e.value for e in at.exception]
    bar = at.get("progress")[0]
    assert "full training: year-ahead check 2008" in bar.text
    assert any(f"Serving now: version {champion} (1 worker(s))" in c.value for c in at.caption)

    progress.finished("9", True, 0.0844)
    at = page("model").run()
    assert not at.get("progress")
    assert any("version 9, promoted to champion" in c.value for c in at.caption)
    assert read_status(status_path(own_state)) is not None
