"""Champion and challenger side by side: the challenger's shadow answers, the per-variant live figures,
the promotion guard's verdict and the log of alias moves (promotions and rollbacks)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.calibration import Segment
from schemas.messages import ModelRef, Variant
from schemas.valuation import Interval

RolloutMode = Literal["shadow", "canary"]


class ShadowAnswer(BaseModel):
    """The answer of the variant that did not answer a request (the challenger in shadow mode, either one in
    canary mode): stored beside the served answer under the request's id, never returned to the client."""

    model: ModelRef
    price: float | None = Field(default=None, description="None when the challenger failed or refused the house.")
    intervals: list[Interval] = Field(
        default_factory=list,
        description="As its version would serve them: recalibrated by that version's own state.",
    )
    segment: Segment | None = Field(
        default=None,
        description="The valuation's calibration segment: a sale fed back moves its version's own state there.",
    )
    error_code: str | None = None
    inference_ms: float = Field(ge=0, description="Its version's model time for the batch.")
    scored_at: datetime


class LiveAccuracy(BaseModel):
    """Accuracy of one model version's valuations from the sale prices fed back (its newest window)."""

    model_config = ConfigDict(allow_inf_nan=False)

    version: str = Field(examples=["4"])
    sales: int = Field(ge=0, description="Sales fed back behind the figures (the newest 1,000).", examples=[120])
    total: int = Field(ge=0, description="All sales ever fed back for the version's valuations.", examples=[480])
    median_abs_pct_error: float | None = Field(default=None, ge=0, examples=[6.1])
    within_10pct: float | None = Field(default=None, ge=0, le=1, examples=[0.78])
    interval_coverage: float | None = Field(
        default=None, ge=0, le=1, description="Share of sales inside the 90 % interval.", examples=[0.9]
    )


class PairedAccuracy(BaseModel):
    """Champion and challenger on the same sales: those fed back for requests both valued, one answering
    and the other in shadow (the newest 1,000). The promotion guard compares these, never two windows
    of different sales."""

    champion: LiveAccuracy
    challenger: LiveAccuracy


class Latency(BaseModel):
    """A version's model time per scored batch (the newest 1,000 batches it scored)."""

    batches: int = Field(ge=0)
    p50_ms: float | None = None
    p95_ms: float | None = None


class VariantFigures(BaseModel):
    variant: Variant
    version: str
    latency: Latency
    accuracy: LiveAccuracy


class PriceDifferences(BaseModel):
    """The challenger's price against the champion's on the same requests (both modes: the shadow scorer scores
    each request with the variant that did not answer it)."""

    champion_version: str
    challenger_version: str
    requests: int = Field(ge=0, description="Requests both scored (the newest 5,000).")
    median_abs_pct_diff: float | None = Field(default=None, ge=0, examples=[2.3])
    share_over_10pct: float | None = Field(default=None, ge=0, le=1, examples=[0.04])


class RolloutEvent(BaseModel):
    """One move of the champion alias by ``python -m training promote`` or ``rollback``."""

    action: Literal["promote", "rollback"]
    at: datetime
    from_version: str | None = Field(description="The champion before the move.")
    to_version: str = Field(description="The champion after the move.")
    forced: bool = False
    reason: str = Field(description="The guard's verdict, or the operator's reason for --force.")


class RolloutPublic(BaseModel):
    """The rollout as ``GET /api/v1/model`` shows it."""

    mode: RolloutMode
    share: float = Field(
        ge=0, le=1, description="Shadow: share of requests the challenger also scores; canary: share it answers."
    )
    challenger: str | None = Field(default=None, description="The version under the challenger alias (none).")
    variants: list[VariantFigures] = Field(default_factory=list)
    differences: PriceDifferences | None = None
    paired: PairedAccuracy | None = Field(
        default=None, description="Both versions' accuracy on the same sales: what the promotion guard compares."
    )
    events: list[RolloutEvent] = Field(default_factory=list, description="Promotions and rollbacks, newest first.")


class PromotionVerdict(BaseModel):
    """The promotion guard's answer: whether the challenger's live figures are at least as good as the
    champion's on the same sales (``champion`` and ``challenger`` are the paired figures)."""

    promote: bool
    reason: str
    champion: LiveAccuracy
    challenger: LiveAccuracy
