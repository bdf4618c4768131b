"""Which rows and which protocol a version's figures come from, and when two versions may be compared.

A CV RMSE means something only beside another CV RMSE of the same rows under the same
protocol: dropping non-market sales alone moves the figure by about 0.02, more than any model
change. So every registered version is tagged with ``fingerprint``: the sales filter, the CV
scheme, and a hash of the exact rows and prices. ``decide_promotion`` (called by the registry
when it considers moving the champion alias) compares the tagged figures only when the
fingerprints agree. When they differ, it compares the two models on the same rows if the
caller re-scored them (``Rescored``: the challenger's nested test predictions, made by a model
fitted only on earlier sales, against the champion's on the same sales; the champion may have
been trained on those sales, so the comparison leans towards keeping it), and refuses
otherwise.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from training.data import Dataset, SalesFilter

PROTOCOL_TAG = "evaluation_protocol"
TAG_DIGITS = 6
"""Figures are compared at the precision the registry tags them with (a retrain of the same
model must not win by its unrounded digits)."""


def rows_digest(data: Dataset) -> str:
    """A hash of the exact rows: every feature and the sale price, in order."""
    hashed = pd.util.hash_pandas_object(data.features, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(np.ascontiguousarray(data.price, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def fingerprint(data: Dataset, sales: SalesFilter, n_folds: int, n_repeats: int, seed: int) -> str:
    """``<filter>:<hash>`` of the sales filter, the CV scheme and the rows (see the module docstring)."""
    described = {
        "filter": sales.name,
        "conditions": sorted(sales.sale_conditions) if sales.sale_conditions is not None else "all",
        "max_living_area": sales.max_living_area,
        "cv": [n_folds, n_repeats, seed],
        "rows": rows_digest(data),
    }
    return f"{sales.name}:{hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]}"


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
    return round(challenger, TAG_DIGITS) < round(champion, TAG_DIGITS)


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
