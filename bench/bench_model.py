"""Serving speed of the champion: single-row latency and 10,000-row throughput at both details (trains nothing).

Run: ``.venv/bin/python bench/bench_model.py``; writes ``bench/results/model.json``.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd

from infra.settings import get_settings
from registry.loading import load_pyfunc
from schemas import NEIGHBORHOODS, PropertyFeatures
from schemas.features import CONDITIONS, FEATURE_NAMES

SINGLE_CALLS = 200
BATCH_ROWS = 10_000
RESULTS = Path(__file__).resolve().parent / "results" / "model.json"


def sample_houses(n: int, seed: int = 0) -> list[PropertyFeatures]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        built = int(rng.integers(1900, 2010))
        area = int(rng.integers(600, 3500))
        located = i % 4 != 0
        house = {
            "gr_liv_area": area,
            "year_built": built,
            "neighborhood": NEIGHBORHOODS[int(rng.integers(0, 20))],
            "year_remod_add": built + int(rng.integers(0, 10)) if i % 3 else None,
            "second_flr_sf": int(area * 0.4) if i % 2 else 0,
            "bedrooms": int(rng.integers(1, 5)),
            "overall_qual": CONDITIONS[int(rng.integers(3, 9))] if i % 5 else None,
            "longitude": -93.62 + float(rng.normal(0, 0.02)) if located else None,
            "latitude": 42.03 + float(rng.normal(0, 0.015)) if located else None,
        }
        rows.append(PropertyFeatures.model_validate(house))
    return rows


def sample_rows(n: int, seed: int = 0) -> pd.DataFrame:
    rows = [house.model_dump() for house in sample_houses(n, seed)]
    return pd.DataFrame(rows, columns=list(FEATURE_NAMES))  # the model's columns, as the workers send


def timings(call: Any, runs: int = 3) -> list[tuple[float, float]]:
    """Wall and CPU seconds of each of ``runs`` calls, after a warm-up call."""
    call()
    measured = []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        measured.append((time.perf_counter() - wall, time.process_time() - cpu))
    return measured


def timed_batches(model: Any, batch: pd.DataFrame, detail: str) -> list[float]:
    """Seconds of three calls at one detail (``full``: with contributions and comparables), after a warm-up."""
    params = {"detail": detail}

    def call() -> None:
        assert len(model.predict(batch, params=params)) == BATCH_ROWS

    return [wall for wall, _ in timings(call)]


def tree_attributions(model: Any, batch: pd.DataFrame) -> dict[str, float]:
    """The forest's path attributions on the batch, from the per-leaf tables the served model uses and
    from XGBoost's own ``approx_contribs``, in the same run (ms, wall and CPU)."""
    import xgboost as xgb

    valuer = model.unwrap_python_model().valuer
    Z = valuer.encoder.transform(batch)
    forest = next(member for _, _, member in valuer.members if hasattr(member, "booster_"))
    tables = min(timings(lambda: forest.contributions(Z)))
    own = min(
        timings(
            lambda: forest.booster_.predict(
                xgb.DMatrix(Z, nthread=forest._threads(len(Z))), pred_contribs=True, approx_contribs=True
            )
        )
    )
    return {
        "tree_attributions_tables_ms": round(tables[0] * 1000, 1),
        "tree_attributions_tables_cpu_ms": round(tables[1] * 1000, 1),
        "tree_attributions_xgboost_ms": round(own[0] * 1000, 1),
        "tree_attributions_xgboost_cpu_ms": round(own[1] * 1000, 1),
    }


def main() -> None:
    settings = get_settings()
    started = time.perf_counter()
    model = load_pyfunc(settings)
    load_seconds = time.perf_counter() - started
    one = sample_rows(1, seed=1)
    batch = sample_rows(BATCH_ROWS)
    for _ in range(10):
        model.predict(one)
    latencies = []
    for _ in range(SINGLE_CALLS):
        t = time.perf_counter()
        model.predict(one)
        latencies.append((time.perf_counter() - t) * 1000)
    runs = timed_batches(model, batch, "full")
    summary_runs = timed_batches(model, batch, "summary")
    quantiles = statistics.quantiles(latencies, n=100)
    result = {
        "model": settings.champion_uri,
        "run_id": str(model.metadata.run_id),
        "load_seconds": round(load_seconds, 3),
        "single_row_p50_ms": round(statistics.median(latencies), 3),
        "single_row_p99_ms": round(quantiles[98], 3),
        "batch_rows": BATCH_ROWS,
        "batch_seconds_best": round(min(runs), 3),
        "batch_rows_per_second": round(BATCH_ROWS / min(runs)),
        "batch_rows_per_second_median": round(BATCH_ROWS / statistics.median(runs)),
        "summary_batch_rows_per_second": round(BATCH_ROWS / min(summary_runs)),
        **tree_attributions(model, batch),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    width = max(len(k) for k in result)
    print(f"{'metric':<{width}}  value")
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
