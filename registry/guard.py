"""The promotion guard: the challenger takes the champion alias only if its live figures are at least as good.

Live figures come from the sale prices fed back (``POST /feedback``) for requests both versions
valued: one answered it, the other scored it in shadow (``state.rollout.Rollout.paired``). So both
are judged on the same sales, never on two windows of different sales (a champion's window can
reach back before the challenger existed, and at a shadow share below 1 the two would cover
different months). ``Settings.promotion_min_sales`` such sales are needed before they are compared.
"At least as good" means a median absolute % error no larger than the champion's, and a 90 %
interval coverage no further from 90 % than the champion's plus ``COVERAGE_TOLERANCE`` (a coverage
measured on a few dozen sales moves by several points by chance alone).
"""

from __future__ import annotations

from schemas.rollout import LiveAccuracy, PairedAccuracy, PromotionVerdict

NOMINAL_COVERAGE = 0.9
COVERAGE_TOLERANCE = 0.03


def _gap(accuracy: LiveAccuracy) -> float:
    return abs((accuracy.interval_coverage or 0.0) - NOMINAL_COVERAGE)


def decide_live_promotion(paired: PairedAccuracy, min_sales: int) -> PromotionVerdict:
    """Whether the challenger may take the alias on its live figures (``--force`` overrides a refusal)."""
    champion, challenger = paired.champion, paired.challenger

    def verdict(promote: bool, reason: str) -> PromotionVerdict:
        return PromotionVerdict(promote=promote, reason=reason, champion=champion, challenger=challenger)

    if challenger.sales < min_sales:
        return verdict(
            False,
            f"{challenger.sales} sales fed back for requests both versions valued (champion {champion.version}, "
            f"challenger {challenger.version}), {min_sales} needed",
        )
    assert champion.median_abs_pct_error is not None
    assert challenger.median_abs_pct_error is not None
    if challenger.median_abs_pct_error > champion.median_abs_pct_error:
        return verdict(
            False,
            f"median abs % error {challenger.median_abs_pct_error:.2f} against the champion's "
            f"{champion.median_abs_pct_error:.2f}",
        )
    if _gap(challenger) > _gap(champion) + COVERAGE_TOLERANCE:
        return verdict(
            False,
            f"90 % interval coverage {challenger.interval_coverage:.3f} against the champion's "
            f"{champion.interval_coverage:.3f} (further from 0.9 by more than {COVERAGE_TOLERANCE})",
        )
    return verdict(
        True,
        f"on the same {challenger.sales} sales: median abs % error "
        f"{challenger.median_abs_pct_error:.2f} against {champion.median_abs_pct_error:.2f}, coverage "
        f"{challenger.interval_coverage:.3f} against {champion.interval_coverage:.3f}",
    )
