"""The tags a registered version carries. Each name is spelled here only."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class VersionTag(StrEnum):
    CV_RMSE = "cv_rmse"
    """The CV RMSE (log price) the promotion rule compares; other figures are tagged under their own names."""
    PROMOTED_AT = "promoted_at"
    """When the serving alias moved to the version (ISO 8601, UTC); the registry keeps no history of alias moves."""
    FEATURE_CONTRACT = "feature_contract"
    """``contract.feature_contract()`` of the code that trained the version."""
    TRAINING_MODE = "training_mode"
    """'quick' or 'full': how the version was trained (``python -m training --quick`` or not)."""
    PREVIOUS_CHAMPION = "previous_champion"
    """The version that was champion when this one took the alias (``python -m training rollback`` returns to it)."""
    FORCED_REASON = "promotion_forced_reason"
    """The operator's reason when ``python -m training promote --force`` overrode the guard."""
    ROLLED_BACK_AT = "rolled_back_at"
    """When ``python -m training rollback`` took the champion alias away from the version (ISO 8601, UTC)."""
    EVALUATION_PROTOCOL = "evaluation_protocol"
    """The sales filter, CV scheme and rows its figures come from (``training.protocol.fingerprint``)."""


def tag_value(figure: float) -> str:
    """A figure as tagged: six decimals, the precision the promotion rule compares at."""
    return f"{figure:.6f}"


def promoted_at(tags: dict[str, str] | None) -> datetime | None:
    """The version's promotion time, if it was tagged with a readable one."""
    value = (tags or {}).get(VersionTag.PROMOTED_AT)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
