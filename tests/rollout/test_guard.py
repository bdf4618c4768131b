"""The promotion guard's rule and the sticky canary draw, without services."""

from __future__ import annotations

import pytest

from consumers.variants import bucket, in_share
from registry.guard import decide_live_promotion
from schemas.rollout import LiveAccuracy, PairedAccuracy


def figures(version: str, sales: int, mdape: float, coverage: float) -> LiveAccuracy:
    return LiveAccuracy(
        version=version, sales=sales, total=sales, median_abs_pct_error=mdape, interval_coverage=coverage
    )


def paired(sales: int, champion: tuple[float, float], challenger: tuple[float, float]) -> PairedAccuracy:
    """Both versions on the same ``sales``: (median abs % error, 90 % coverage) each."""
    return PairedAccuracy(champion=figures("1", sales, *champion), challenger=figures("2", sales, *challenger))


def test_a_challenger_at_least_as_good_on_enough_paired_sales_is_promoted() -> None:
    verdict = decide_live_promotion(paired(40, (6.0, 0.90), (6.0, 0.89)), min_sales=30)
    assert verdict.promote
    assert "same 40 sales" in verdict.reason
    assert (verdict.champion.version, verdict.challenger.version) == ("1", "2")


@pytest.mark.parametrize(
    ("figures_", "why"),
    [
        (paired(29, (6.0, 0.90), (1.0, 0.90)), "29 sales fed back for requests both versions valued"),
        (paired(40, (6.0, 0.90), (6.1, 0.90)), "median abs % error"),
        (paired(40, (6.0, 0.90), (5.0, 0.80)), "coverage"),
    ],
)
def test_a_worse_or_unproven_challenger_is_refused(figures_: PairedAccuracy, why: str) -> None:
    verdict = decide_live_promotion(figures_, min_sales=30)
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
