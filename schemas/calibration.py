"""Online recalibration of the intervals: the segment of a valuation and the state shown to readers.

A valuation's segment is fixed when it is scored (the worker writes it into the result), so the
feedback for it updates the segment the served interval belonged to, whatever the house record
still holds by then.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Construction = Literal["new", "existing"]
GradeBand = Literal["low", "mid", "high", "ungraded"]
PriceBand = Literal["low", "mid", "high"]
Grouping = Literal["construction", "grade", "price"]
GROUPINGS: tuple[Grouping, ...] = ("construction", "grade", "price")
BANDS: dict[Grouping, tuple[str, ...]] = {
    "construction": Construction.__args__,  # type: ignore[attr-defined]
    "grade": GradeBand.__args__,  # type: ignore[attr-defined]
    "price": PriceBand.__args__,  # type: ignore[attr-defined]
}


class Segment(BaseModel):
    """Where a valuation falls in each grouping the intervals are recalibrated over."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    construction: Construction = Field(description="'new': sold before completion (sale_condition Partial).")
    grade: GradeBand = Field(
        description="Overall quality: low (Below_Average or worse), mid (Average, Above_Average), high (Good or "
        "better), ungraded (not given)."
    )
    price: PriceBand = Field(description="The predicted price against the price band edges.")

    def band(self, grouping: Grouping) -> str:
        band: str = getattr(self, grouping)
        return band


class SegmentCalibration(BaseModel):
    """One band of one grouping at one interval level: its current adjustment and realised coverage."""

    model_config = ConfigDict(allow_inf_nan=False)

    level: float = Field(gt=0, lt=1, examples=[0.9])
    grouping: Grouping = Field(examples=["construction"])
    band: str = Field(examples=["new"])
    log_factor: float = Field(
        description="This band's live term in the log of the radius factor, moved by the sales fed back.",
        examples=[0.12],
    )
    start_log_factor: float = Field(
        default=0.0,
        description="This band's term settled on the model's backtest at training, which the model's own "
        "intervals already carry; the live term applies on top of it.",
        examples=[0.05],
    )
    sales: int = Field(ge=0, description="Sales fed back for valuations in this band.", examples=[57])
    missed: int = Field(ge=0, description="Of those, sales outside the served interval.", examples=[6])

    @property
    def coverage(self) -> float | None:
        return None if self.sales == 0 else 1 - self.missed / self.sales


class CalibrationPublic(BaseModel):
    """The recalibration state of one model version (``GET /model``, the dashboard)."""

    model_config = ConfigDict(allow_inf_nan=False)

    model_version: str = Field(examples=["3"])
    learning_rate: float = Field(description="Step of each band's log factor per sale.", examples=[0.05])
    price_edges: tuple[float, float] = Field(description="Predicted prices that split low/mid/high.")
    segments: list[SegmentCalibration] = Field(default_factory=list)
