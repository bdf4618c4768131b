"""What a model says about one house: price, intervals, FSD and confidence, the applicability
verdict, contributions that add up to the price, comparable sales.

The registered pyfunc returns one DataFrame row per input house with the columns in
``VALUATION_COLUMNS``; ``contributions`` and ``comparables`` hold lists of plain dicts shaped
like ``Contribution`` and ``Comparable``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

INTERVAL_LEVELS: tuple[float, ...] = (0.8, 0.9)
VALUATION_COLUMNS: tuple[str, ...] = (
    "price",
    "lower_80",
    "upper_80",
    "lower_90",
    "upper_90",
    "fsd",
    "confidence",
    "confidence_band",
    "base_price",
    "contributions",
    "comparables",
    "applicability",
    "months_beyond_data",
    "refusal",
)
"""``refusal`` is None, or the plain reason the model will not value the house (outside its market)."""

ConfidenceBand = Literal["High", "Medium", "Low"]
HIGH_CONFIDENCE_FSD = 0.10
"""FSD at or below which a valuation is High confidence (confidence score at least 0.90)."""
MEDIUM_CONFIDENCE_FSD = 0.20
"""FSD at or below which it is Medium (score at least 0.80); above, or flagged by the guard, Low."""
OTHER_FEATURES = "other features"
"""The contribution holding every effect not listed on its own, so the list adds up to the price."""
PRICE_FLOOR_CONTRIBUTION = "price floor"
"""The contribution that lifts a price to the model's floor, present only when the floor applied."""
REFUSED_CODE = "outside_model_domain"
"""Error code of a house the model refuses to value (a failed result; the API's wait answers 422)."""


class Interval(BaseModel):
    model_config = ConfigDict(frozen=True)

    level: float = Field(gt=0, lt=1, description="Nominal coverage, e.g. 0.9.", examples=[0.9])
    lower: float = Field(description="Lower bound, dollars.", examples=[151_000.0])
    upper: float = Field(description="Upper bound, dollars.", examples=[198_000.0])


class Contribution(BaseModel):
    feature: str = Field(description="Input or derived feature.", examples=["gr_liv_area"])
    value: float = Field(description="Effect on the price in dollars (+ raises, - lowers).", examples=[12_400.0])


class Comparable(BaseModel):
    price: float = Field(description="Sale price, dollars.", examples=[172_000.0])
    distance_km: float = Field(ge=0, description="Distance from the valued house.", examples=[0.4])
    sold: date = Field(description="Month of sale (first day).", examples=["2009-05-01"])
    neighborhood: str = Field(examples=["North_Ames"])
    gr_liv_area: int = Field(description="Living area, square feet.", examples=[1540])
    year_built: int = Field(examples=[1962])
    longitude: float
    latitude: float


class Applicability(BaseModel):
    """Whether the house lies inside the model's experience (its training sales)."""

    in_domain: bool = Field(description="False when any check below flagged the house.", examples=[True])
    flags: list[str] = Field(
        default_factory=list,
        description="Plain reasons the house is unusual for this model; empty when it is not.",
        examples=[["gr_liv_area 12,000 is above every training sale (largest 3,820)"]],
    )
    novelty: float = Field(
        ge=0,
        le=1,
        description="Share of the training houses less unusual than this one (Mahalanobis distance).",
        examples=[0.42],
    )


def confidence_band(fsd: float, in_domain: bool) -> ConfidenceBand:
    if not in_domain or fsd > MEDIUM_CONFIDENCE_FSD:
        return "Low"
    return "High" if fsd <= HIGH_CONFIDENCE_FSD else "Medium"


FSD_DESCRIPTION = (
    "Forecast standard deviation: about 68 % of sales fall within price x (1 +/- fsd) "
    "(measured as |ln(sale / price)| <= fsd)."
)
CONFIDENCE_DESCRIPTION = "Confidence score, 1 - fsd (0 to 1)."
BAND_DESCRIPTION = (
    f"High: fsd <= {HIGH_CONFIDENCE_FSD}; Medium: fsd <= {MEDIUM_CONFIDENCE_FSD}; "
    "Low: larger, or the house is outside the model's experience."
)
BASE_PRICE_DESCRIPTION = "Price of the average training house; base_price + sum(contributions) = price."
MONTHS_BEYOND_DESCRIPTION = (
    "Months from the latest training sale to the valuation date (0 inside the training period); "
    "the intervals widen with it (market-drift allowance)."
)


class Valuation(BaseModel):
    price: float = Field(gt=0, description="Predicted sale price, dollars.", examples=[174_500.0])
    intervals: list[Interval] = Field(description="Calibrated prediction intervals (80 % and 90 %).")
    fsd: float = Field(ge=0, description=FSD_DESCRIPTION, examples=[0.08])
    confidence: float = Field(ge=0, le=1, description=CONFIDENCE_DESCRIPTION, examples=[0.92])
    confidence_band: ConfidenceBand = Field(description=BAND_DESCRIPTION, examples=["High"])
    applicability: Applicability
    months_beyond_data: int = Field(ge=0, description=MONTHS_BEYOND_DESCRIPTION, examples=[0])
    base_price: float = Field(description=BASE_PRICE_DESCRIPTION, examples=[162_000.0])
    contributions: list[Contribution] = Field(
        default_factory=list,
        description=f"Largest feature effects first, then '{OTHER_FEATURES}'; they add up to price - base_price.",
    )
    comparables: list[Comparable] = Field(default_factory=list, description="Most similar past sales.")
