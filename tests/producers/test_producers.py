"""The client library (reply topic and Redis), the ingest CLI with resume, and the simulator."""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from infra import stack
from infra.settings import Settings, to_env
from producers.client import ValuationClient
from producers.simulate import simulate
from schemas import PropertyFeatures
from schemas.chunks import MAX_FULL_DETAIL_ROWS
from tests.conftest import REPO, WorkerProcess
from tests.integration.test_end_to_end import messages_on
from tests.jobs.tables import houses_table, invalid_rows

pytestmark = pytest.mark.integration
FILE_ROWS = 50_000
HOUSES = [PropertyFeatures(gr_liv_area=1500 + 100 * i, year_built=1990, neighborhood="Gilbert") for i in range(3)]


@pytest.mark.parametrize("reply", [True, False], ids=["reply-topic", "redis"])
def test_client_publishes_and_awaits_results(module_settings: Settings, worker: WorkerProcess, reply: bool) -> None:
    async def run() -> list[float]:
        topic = f"replies-{uuid.uuid4().hex[:6]}" if reply else None
        async with ValuationClient(module_settings, reply_topic=topic) as client:
            results = await client.predict(HOUSES, within=60)
        assert all(r.status == "done" and r.source == "kafka" for r in results)
        return [r.price or 0.0 for r in results]

    prices = asyncio.run(run())
    assert prices[0] < prices[2]


def ingest(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producers", "ingest", *args, "--quiet"],
        cwd=REPO,
        env=os.environ | to_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_ingests_50k_rows_and_resumes_without_rescoring(
    module_settings: Settings, worker: WorkerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "houses.parquet"
    houses_table(FILE_ROWS).to_parquet(path, index=False)
    bad = invalid_rows(FILE_ROWS)
    before = messages_on(module_settings, module_settings.requests_topic)

    interrupted = ingest(module_settings, str(path), "--max-rows", "20100")
    assert interrupted.returncode == 0, interrupted.stderr
    assert "stopped early" in interrupted.stdout
    finished = ingest(module_settings, str(path), "--output", str(tmp_path / "out.csv"))
    assert finished.returncode == 0, finished.stderr
    assert f"{FILE_ROWS} rows" in finished.stdout
    assert f"{len(bad)} invalid" in finished.stdout  # counted in the results: both runs' rows

    sent = messages_on(module_settings, module_settings.requests_topic) - before
    assert sent == -(-FILE_ROWS // module_settings.job_chunk_rows)  # one message per chunk, none sent twice
    with (tmp_path / "out.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["row"]) for r in rows] == list(range(FILE_ROWS))
    assert {int(r["row"]) for r in rows if r["status"] == "failed"} == bad
    assert all(r["error_code"] == "invalid_features" for r in rows if r["status"] == "failed")
    assert all(r["status"] == "done" and float(r["price"]) > 0 for r in rows if int(r["row"]) not in bad)


def test_cli_refuses_a_file_with_unknown_columns(module_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("gr_liv_area,year_built,neighborhood,colour\n1500,1990,Gilbert,red\n")
    refused = ingest(module_settings, str(path))
    assert refused.returncode == 2
    assert "colour" in refused.stderr


def test_cli_refuses_to_resume_a_job_at_full_detail_with_larger_chunks(
    module_settings: Settings, tmp_path: Path
) -> None:
    assert module_settings.job_chunk_rows > MAX_FULL_DETAIL_ROWS  # the default: a summary job's chunks are larger
    path = tmp_path / "few.parquet"
    houses_table(module_settings.job_chunk_rows + 500).to_parquet(path, index=False)
    started = ingest(module_settings, str(path), "--max-rows", str(module_settings.job_chunk_rows))
    assert started.returncode == 0, started.stderr
    refused = ingest(module_settings, str(path), "--detail", "full")
    assert refused.returncode == 6, refused.stderr
    assert f"at most {MAX_FULL_DETAIL_ROWS}" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_cli_without_kafka_says_so_and_how_to_resume(module_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "houses.csv"
    path.write_text("gr_liv_area,year_built,neighborhood\n1500,1990,Gilbert\n")
    dead = module_settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{stack.free_port()}"})
    refused = ingest(dead, str(path))
    assert refused.returncode == 4, refused.stderr
    assert "Kafka is not reachable" in refused.stderr
    assert "run the same command again to resume" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_simulator_sends_at_the_rate_and_every_request_is_answered(
    module_settings: Settings, worker: WorkerProcess
) -> None:
    outcome = asyncio.run(simulate(module_settings, rate=40, duration=1.5, seed=1, wait_seconds=60))
    assert 40 <= outcome.sent <= 70
    assert outcome.answered == outcome.sent
