"""Pooling the shadow benchmark's runs: the same rule over every run's paired rounds, one protocol only."""

from __future__ import annotations

from typing import Any

import pytest

from bench.bench_shadow import LATENCIES, paired_growth
from bench.pool_shadow import pool


def run(alone_p99: list[float], shadow_p99: list[float], share: float = 1.0) -> dict[str, Any]:
    rounds = {
        "alone": [{"p50_ms": 40.0, "p99_ms": a} for a in alone_p99],
        "shadow": [{"p50_ms": 40.0, "p99_ms": s} for s in shadow_p99],
    }
    return {
        "toggle": "pause",
        "shadow_share": share,
        "phase_seconds": 20.0,
        "half_load_rate": 300.0,
        "rounds": rounds,
        "growth": {
            key: paired_growth([r[key] for r in rounds["alone"]], [r[key] for r in rounds["shadow"]])
            for key in LATENCIES
        },
    }


def test_the_pooled_estimate_is_the_rule_over_every_runs_rounds_paired_within_their_own_run() -> None:
    first = run([60.0, 70.0, 65.0], [66.0, 72.0, 70.0])
    second = run([100.0, 90.0], [104.0, 99.0])  # a slower day: rounds pool as ratios
    pooled = pool({"first.json": first, "second.json": second})
    expected = paired_growth([60.0, 70.0, 65.0, 100.0, 90.0], [66.0, 72.0, 70.0, 104.0, 99.0])
    assert pooled["rounds"] == 5
    assert pooled["growth"]["p99_ms"] == expected
    assert pooled["growth"]["p50_ms"]["estimate"] == pytest.approx(0.0)
    assert [r["rounds"] for r in pooled["runs"]] == [3, 2]
    assert pooled["targets"]["p99_ms growth <= 10% (90% interval's upper end)"] is (expected["high"] <= 0.10)


def test_runs_of_another_share_are_refused() -> None:
    with pytest.raises(ValueError, match="different protocols"):
        pool({"all.json": run([60.0, 61.0], [62.0, 63.0]), "quarter.json": run([60.0, 61.0], [62.0, 63.0], share=0.25)})
