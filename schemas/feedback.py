"""Observed sale prices sent back for scored requests, and the accuracy figures kept from them."""

from __future__ import annotations

import math
import statistics

from pydantic import BaseModel, ConfigDict, Field

from schemas.messages import RequestId, Variant

Observed = tuple[float, bool, bool]
"""One sale against one valuation: absolute % error, within 10 %, inside the 90 % interval."""


def window_entry(observed: Observed) -> str:
    """One observation as a rolling window keeps it, ``ape|within10|covered`` (``AccuracyFigures.from_window``
    reads it back)."""
    ape, within, covered = observed
    return f"{ape:.6f}|{int(within)}|{int(covered)}"


class FeedbackCreate(BaseModel):
    # strict: JSON types as documented (no "181500" or true for a price)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    request_id: RequestId = Field(description="The scored request the sale belongs to.", examples=["3f2a9c0e"])
    # At least a dollar: a price of a fraction of a cent made the percentage error overflow to infinity.
    sale_price: float = Field(ge=1, le=1e9, description="Observed sale price, dollars.", examples=[181_500.0])


class AccuracyFigures(BaseModel):
    """Rolling accuracy over the most recent feedback of one neighbourhood and model version."""

    model_config = ConfigDict(allow_inf_nan=False)

    neighborhood: str = Field(examples=["North_Ames"])
    model_version: str = Field(examples=["3"])
    count: int = Field(ge=0, description="Feedback in the rolling window.", examples=[120])
    total: int = Field(ge=0, description="All feedback ever received for this segment.", examples=[480])
    mape: float = Field(ge=0, description="Median absolute percentage error, percent.", examples=[6.1])
    within_10pct: float = Field(ge=0, le=1, description="Share of prices within 10 % of the sale.", examples=[0.78])
    interval_coverage: float = Field(ge=0, le=1, description="Share of sales inside the 90 % interval.", examples=[0.9])

    @classmethod
    def from_window(cls, neighborhood: str, version: str, window: list[str], total: int) -> AccuracyFigures:
        """Figures of one segment's Redis window, whose entries read ``ape|within10|covered``."""
        # entries whose error is not finite predate the one-dollar floor on sale prices
        rows = [row for row in (entry.split("|") for entry in window) if math.isfinite(float(row[0]))]
        apes = [float(r[0]) for r in rows]
        return cls(
            neighborhood=neighborhood,
            model_version=version,
            count=len(rows),
            total=total,
            mape=statistics.median(apes) if apes else 0.0,
            within_10pct=sum(r[1] == "1" for r in rows) / len(rows) if rows else 0.0,
            interval_coverage=sum(r[2] == "1" for r in rows) / len(rows) if rows else 0.0,
        )


class FeedbackAccepted(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    request_id: str
    absolute_pct_error: float = Field(ge=0, description="This sale's absolute percentage error.", examples=[3.4])
    variant: Variant = Field(default="champion", description="The variant whose answer the sale is attributed to.")
    model_version: str = Field(default="", description="The version that answered.", examples=["3"])
    figures: AccuracyFigures
