"""The online recalibration rule: segments, rescaling, the update step and its per-segment guarantee."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infra.recalibration import BOUND, Adjustments, Tracker, all_terms, missed_by, rescale, segment_of, term
from schemas.calibration import GROUPINGS, Segment
from schemas.valuation import Interval

EDGES = (140_000.0, 195_000.0)
SEGMENT = Segment(construction="existing", grade="mid", price="mid")


@pytest.mark.parametrize(
    ("condition", "grade", "price", "expected"),
    [
        ("Partial", "Good", 250_000.0, ("new", "high", "high")),
        ("Normal", None, 100_000.0, ("existing", "ungraded", "low")),
        ("Normal", "Below_Average", 140_000.0, ("existing", "low", "mid")),
        ("Abnorml", "Average", 194_999.0, ("existing", "mid", "mid")),
        ("Normal", "Above_Average", 195_000.0, ("existing", "mid", "high")),
        ("Normal", "Very_Excellent", 1.0, ("existing", "high", "low")),
    ],
)
def test_segment_of(condition: str, grade: str | None, price: float, expected: tuple[str, str, str]) -> None:
    segment = segment_of(condition, grade, price, EDGES)
    assert (segment.construction, segment.grade, segment.price) == expected


def test_rescale_multiplies_each_sides_log_distance() -> None:
    assert rescale(100_000.0, 80_000.0, 125_000.0, 1.0) == pytest.approx((80_000.0, 125_000.0))
    lower, upper = rescale(100_000.0, 80_000.0, 125_000.0, 2.0)
    assert math.log(lower / 100_000) == pytest.approx(2 * math.log(0.8))
    assert math.log(upper / 100_000) == pytest.approx(2 * math.log(1.25))


def test_a_miss_widens_and_a_hit_narrows_only_the_segments_bands() -> None:
    tracker = Tracker(learning_rate=0.1)
    tracker.observe(SEGMENT, {0.9: True, 0.8: False})
    assert tracker.log_factors[term(0.9, "grade", "mid")] == pytest.approx(0.1 * 0.9)
    assert tracker.log_factors[term(0.8, "price", "mid")] == pytest.approx(-0.1 * 0.2)
    assert term(0.9, "grade", "low") not in tracker.log_factors
    other = Segment(construction="existing", grade="low", price="mid")
    factors = tracker.adjustments
    # every grouping's term of the segment adds up: 3 x 0.09 for the sale's own segment
    assert factors.factor(SEGMENT, 0.9) == pytest.approx(math.exp(0.27))
    assert factors.factor(other, 0.9) == pytest.approx(math.exp(0.18))
    assert (tracker.sales[term(0.9, "construction", "existing")], tracker.missed[term(0.8, "grade", "mid")]) == (1, 0)


def test_terms_stay_within_their_bound() -> None:
    tracker = Tracker(learning_rate=0.5)
    for _ in range(20):
        tracker.observe(SEGMENT, {0.9: True})
    assert max(tracker.log_factors.values()) == BOUND
    assert tracker.adjustments.factor(SEGMENT, 0.9) == pytest.approx(math.exp(3 * BOUND))


def test_a_narrower_level_never_reaches_past_a_wider_one() -> None:
    adjustments = Adjustments({term(0.8, "grade", "mid"): math.log(3.0)})
    intervals = [
        Interval(level=0.8, lower=90_000.0, upper=111_000.0),
        Interval(level=0.9, lower=85_000.0, upper=118_000.0),
    ]
    eighty, ninety = adjustments.apply(100_000.0, intervals, SEGMENT)
    assert (eighty.level, ninety.level) == (0.8, 0.9)
    assert (ninety.lower, ninety.upper) == pytest.approx((85_000.0, 118_000.0))
    assert (eighty.lower, eighty.upper) == pytest.approx((85_000.0, 118_000.0))
    assert missed_by([eighty, ninety], 120_000.0) == {0.8: True, 0.9: True}


def test_a_batch_is_rescaled_row_by_row_by_each_rows_own_segment() -> None:
    """Columns of many valuations in several segments: each row gets its own segment's factors at each
    level, exactly as ``rescale`` of that row alone. Terms within +/-0.05 keep every 80 % factor within
    e^0.3 of the 90 % one, so the nesting of levels (tested above) is not reached."""
    rng = np.random.default_rng(3)
    adjustments = Adjustments({name: float(rng.uniform(-0.05, 0.05)) for name in (term(*t) for t in all_terms())})
    segments = [
        segment_of(condition, grade, 150_000.0, EDGES)
        for condition in ("Normal", "Partial")
        for grade in (None, "Poor", "Average", "Excellent")
    ] * 5
    price = rng.uniform(80_000, 300_000, len(segments))
    bounds = {0.8: (price * 0.9, price * 1.1), 0.9: (price * 0.85, price * 1.15)}
    factors = {level: [adjustments.factor(s, level) for s in segments] for level in bounds}
    adjusted = adjustments.apply_columns(price, bounds, segments)
    assert list(adjusted) == [0.8, 0.9]
    for level, (lower, upper) in adjusted.items():
        rows = zip(price, *bounds[level], factors[level], strict=True)
        expected = np.array([rescale(p, lo, hi, f) for p, lo, hi, f in rows])
        np.testing.assert_allclose(np.column_stack([lower, upper]), expected, rtol=1e-12)
    assert len({tuple(lower) for lower, _ in adjusted.values()}) == 2


def test_every_band_of_every_grouping_reaches_its_coverage_on_a_shifted_stream() -> None:
    """Intervals calibrated for one market, then sales whose errors are 1.6x larger for new houses and
    1.3x for low grades: each band's realised coverage comes back to 90 %, within the rule's own bound
    |theta_end - theta_start| / (rate x sales in the band) (no term reached its clip here)."""
    rng = np.random.default_rng(7)
    tracker = Tracker(learning_rate=0.05)
    radius = 1.645  # the 90 % radius of a standard normal log error
    hits: dict[str, list[bool]] = {}
    for _ in range(6_000):
        segment = Segment(
            construction="new" if rng.random() < 0.15 else "existing",
            grade=("low", "mid", "high", "ungraded")[int(rng.integers(4))],
            price=("low", "mid", "high")[int(rng.integers(3))],
        )
        scale = (1.6 if segment.construction == "new" else 1.0) * (1.3 if segment.grade == "low" else 1.0)
        error = rng.normal() * scale
        served = tracker.adjustments.factor(segment, 0.9) * radius
        covered = abs(error) <= served
        tracker.observe(segment, {0.9: not covered})
        for g in GROUPINGS:
            hits.setdefault(f"{g}:{segment.band(g)}", []).append(covered)
    assert max(abs(v) for v in tracker.log_factors.values()) < BOUND
    for name, covered_list in hits.items():
        grouping, band = name.split(":")
        theta = tracker.log_factors[term(0.9, grouping, band)]  # type: ignore[arg-type]
        coverage = float(np.mean(covered_list))
        assert 1 - coverage - 0.1 == pytest.approx(theta / (0.05 * len(covered_list)), abs=1e-9), name
        assert abs(coverage - 0.9) <= 0.015, name
    assert tracker.log_factors[term(0.9, "construction", "new")] > 0.3


def test_a_batch_without_a_grade_is_ungraded_however_pandas_spells_it_missing() -> None:
    import pandas as pd

    from infra.recalibration import segments_of

    missing: list[object] = [None, float("nan"), pd.NA, np.nan]
    segments = segments_of(["Normal"] * 4, missing, np.full(4, 150_000.0), EDGES)
    assert {s.grade for s in segments} == {"ungraded"}
    assert segments_of(["Partial"], ["Poor"], np.array([150_000.0]), EDGES) == [
        segment_of("Partial", "Poor", 150_000.0, EDGES)
    ]
