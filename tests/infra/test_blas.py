"""Scoring processes keep BLAS on the calling thread (``infra.blas``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = """
import json
import numpy
import scipy.linalg
from threadpoolctl import threadpool_info
from infra.blas import single_blas_thread
before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
single_blas_thread()
after = {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
print(json.dumps({"before": before, "after": after}))
"""


def test_every_blas_library_runs_on_the_calling_thread_only() -> None:
    # In a process of its own: the limit lasts for the life of the process that sets it.
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"OPENBLAS_NUM_THREADS": "2"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert max(seen["before"]) == 2  # so the probe could fail: BLAS started with more than one thread
    assert len(seen["after"]) >= 2, seen  # numpy's and scipy's own OpenBLAS
    assert set(seen["after"].values()) == {1}, seen
