"""The ingest CLI while it waits for its answers: an erased job stops it at once, and no results file is left."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from infra.settings import Settings
from jobs.service import JobNotFoundError
from producers.ingest import ingest
from state import State
from tests.jobs.tables import houses_table

pytestmark = pytest.mark.integration
ROWS = 1_000
JOB = "erased-while-waiting"


def test_ingest_stops_at_once_when_its_job_is_erased_while_it_waits(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "houses.parquet"
    houses_table(ROWS).to_parquet(path, index=False)
    output = tmp_path / "results.csv"
    chunks = set(range(-(-ROWS // settings.job_chunk_rows)))

    async def run() -> float:
        # No worker runs: the CLI sends every chunk, then waits for answers that never come.
        task = asyncio.create_task(ingest(settings, path, job_id=JOB, output=output, wait_seconds=600, progress=False))
        state = State.connect(settings)
        try:
            while await state.chunks.sent(JOB) != chunks:
                if task.done():
                    task.result()
                    pytest.fail("ingest ended before its job was erased")
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # well into its wait
            await state.jobs.erase(JOB, ROWS, per_row_keys=False)
            erased_at = time.monotonic()
            with pytest.raises(JobNotFoundError):
                await asyncio.wait_for(task, timeout=30)
            return time.monotonic() - erased_at
        finally:
            await state.close()

    assert asyncio.run(run()) < 5
    assert list(tmp_path.iterdir()) == [path]  # neither the results file nor its .part
