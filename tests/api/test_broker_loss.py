"""A broker that stops acknowledging turns uploads and batches into 503s that say how to resume.

The API here talks to a Kafka of this test's own, so stopping it leaves the session's broker alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infra import stack
from infra.settings import Settings
from infra.topics import ensure_topics
from tests.api.conftest import HOUSE, connected_client
from tests.conftest import CACHE
from tests.jobs.tables import houses_table

pytestmark = pytest.mark.integration


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[stack.Service]:
    service = stack.start_kafka(tmp_path / "kafka", stack.free_port(), partitions=2, cache_dir=CACHE, heap="256m")
    yield service
    service.stop()


def test_a_stopped_broker_is_a_503_with_a_resume_hint(
    module_settings: Settings, own_kafka: stack.Service, tmp_path: Path
) -> None:
    settings = module_settings.model_copy(
        update={"kafka_bootstrap": own_kafka.address, "kafka_ack_timeout_seconds": 5.0}
    )
    asyncio.run(ensure_topics(own_kafka.address, [settings.requests_topic], 2))
    path = tmp_path / "houses.csv"
    houses_table(2_000).to_csv(path, index=False)
    with contextmanager(connected_client)(settings) as client:
        with path.open("rb") as handle:
            before = client.post("/api/v1/jobs", files={"file": ("houses.csv", handle)})
        assert before.status_code == 202, before.text

        own_kafka.stop()
        with path.open("rb") as handle:
            after = client.post("/api/v1/jobs", files={"file": ("houses.csv", handle)}, data={"job_id": "after-stop"})
        assert after.status_code == 503, after.text
        assert after.json()["code"] == "kafka_unavailable"
        assert "retry with job_id after-stop to resume" in after.json()["message"]
        batch = client.post("/api/v1/batch", json={"houses": [HOUSE], "job_id": "batch-after-stop"})
        assert batch.status_code == 503
        assert "retry with job_id batch-after-stop" in batch.json()["message"]
