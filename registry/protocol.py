"""When a challenger may take the serving alias: figures are compared only under one evaluation protocol.

A CV RMSE means something only beside another CV RMSE of the same rows under the same
protocol: dropping non-market sales alone moves the figure by about 0.02, more than any model
change. Every registered version is tagged with its protocol fingerprint
(``VersionTag.EVALUATION_PROTOCOL``, computed by ``training.protocol.fingerprint``).
``decide_promotion`` compares the tagged figures only when the fingerprints agree. When they
differ, it compares the two models on the same rows if the caller re-scored them (``Rescored``:
the challenger's nested test predictions, made by a model fitted only on earlier sales, against
the champion's on the same sales; the champion may have been trained on those sales, so the
comparison leans towards keeping it), and refuses otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from registry.tags import tag_value


@dataclass(frozen=True)
class Rescored:
    """Both models' RMSE of ln(price) on the same rows (the challenger's latest nested test year)."""

    challenger_rmse: float
    champion_rmse: float
    rows: int


class PromotionDecision(BaseModel):
    promote: bool
    basis: Literal["no_champion", "same_protocol", "rescored_on_same_rows", "protocols_differ"]
    reason: str


def _better(challenger: float, champion: float) -> bool:
    """Compared at the precision figures are tagged with: a retrain of the same model must not win by
    its unrounded digits."""
    return float(tag_value(challenger)) < float(tag_value(champion))


def decide_promotion(
    challenger_rmse: float,
    challenger_protocol: str,
    champion_rmse: float | None,
    champion_protocol: str | None,
    rescored: Rescored | None = None,
) -> PromotionDecision:
    """Whether the challenger takes the alias; never by comparing figures of different protocols."""
    if champion_rmse is None:
        return PromotionDecision(promote=True, basis="no_champion", reason="no champion to compare with")
    if champion_protocol == challenger_protocol:
        better = _better(challenger_rmse, champion_rmse)
        return PromotionDecision(
            promote=better,
            basis="same_protocol",
            reason=f"CV RMSE {challenger_rmse:.6f} against the champion's {champion_rmse:.6f} on the same rows",
        )
    if rescored is not None:
        better = _better(rescored.challenger_rmse, rescored.champion_rmse)
        return PromotionDecision(
            promote=better,
            basis="rescored_on_same_rows",
            reason=(
                f"protocols differ ({champion_protocol} against {challenger_protocol}): on the same "
                f"{rescored.rows} sales, RMSE {rescored.challenger_rmse:.6f} against the champion's "
                f"{rescored.champion_rmse:.6f}"
            ),
        )
    return PromotionDecision(
        promote=False,
        basis="protocols_differ",
        reason=(
            f"the champion's figures come from protocol {champion_protocol}, the challenger's from "
            f"{challenger_protocol}: not comparable, and neither was re-scored on the other's rows"
        ),
    )
