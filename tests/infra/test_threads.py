"""A worker's model threads: the cores shared among the workers, or ``VALUESTREAM_MODEL_THREADS``,
handed to the model's code as ``OMP_NUM_THREADS`` (``training.features.SERVING_THREADS``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra.settings import Settings


@pytest.mark.parametrize(("workers", "threads", "expected"), [(1, None, 2), (2, None, 1), (3, None, 1), (2, 2, 2)])
def test_workers_share_the_cores_unless_told(
    monkeypatch: pytest.MonkeyPatch, workers: int, threads: int | None, expected: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert Settings(workers=workers, model_threads=threads).threads_per_worker == expected


@pytest.mark.parametrize(("omp", "expected"), [("1", "1"), ("3", "3"), ("1,1", "1"), ("", "2"), ("many", "2")])
def test_the_models_threads_follow_omp_num_threads(omp: str, expected: str) -> None:
    probe = "import os; os.cpu_count = lambda: 2\nfrom training.features import SERVING_THREADS; print(SERVING_THREADS)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"OMP_NUM_THREADS": omp},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == expected
