"""The promotion guard's rule and the sticky canary draw, without services."""

from __future__ import annotations

import pytest

from consumers.variants import bucket, in_share
from registry.guard import decide_live_promotion
from schemas.rollout import LiveAccuracy


def figures(version: str, sales: int, mdape: float, coverage: float) -> LiveAccuracy:
    return LiveAccuracy(
        version=version, sales=sales, total=sales, median_abs_pct_error=mdape, interval_coverage=coverage
    )


def test_a_challenger_at_least_as_good_on_enough_sales_is_promoted() -> None:
    verdict = decide_live_promotion(figures("1", 40, 6.0, 0.90), figures("2", 40, 6.0, 0.89), min_sales=30)
    assert verdict.promote
    assert "40" in verdict.reason


@pytest.mark.parametrize(
    ("champion", "challenger", "why"),
    [
        (figures("1", 40, 6.0, 0.90), figures("2", 29, 1.0, 0.90), "29 sales"),
        (figures("1", 10, 6.0, 0.90), figures("2", 40, 1.0, 0.90), "10 sales"),
        (figures("1", 40, 6.0, 0.90), figures("2", 40, 6.1, 0.90), "median abs % error"),
        (figures("1", 40, 6.0, 0.90), figures("2", 40, 5.0, 0.80), "coverage"),
    ],
)
def test_a_worse_or_unproven_challenger_is_refused(champion: LiveAccuracy, challenger: LiveAccuracy, why: str) -> None:
    verdict = decide_live_promotion(champion, challenger, min_sales=30)
    assert not verdict.promote
    assert why in verdict.reason


def test_the_canary_draw_is_fixed_by_the_request_id() -> None:
    ids = [f"req-{i}" for i in range(2_000)]
    first = [in_share(i, "canary", 0.3) for i in ids]
    assert first == [in_share(i, "canary", 0.3) for i in ids]  # a retry meets the same model
    assert 450 < sum(first) < 750
    assert not any(in_share(i, "canary", 0.0) for i in ids)
    assert all(in_share(i, "canary", 1.0) for i in ids)
    # canary and shadow draw apart
    assert [bucket(i, "canary") for i in ids[:20]] != [bucket(i, "shadow") for i in ids[:20]]
