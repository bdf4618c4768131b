"""What a model says about one house: price, intervals, contributions, comparable sales.

The registered pyfunc returns one DataFrame row per input house with the columns in
``VALUATION_COLUMNS``; ``contributions`` and ``comparables`` hold lists of plain dicts shaped
like ``Contribution`` and ``Comparable``.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

INTERVAL_LEVELS: tuple[float, ...] = (0.8, 0.9)
VALUATION_COLUMNS: tuple[str, ...] = (
    "price",
    "lower_80",
    "upper_80",
    "lower_90",
    "upper_90",
    "contributions",
    "comparables",
)


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


class Valuation(BaseModel):
    price: float = Field(gt=0, description="Predicted sale price, dollars.", examples=[174_500.0])
    intervals: list[Interval] = Field(description="Calibrated prediction intervals (80 % and 90 %).")
    contributions: list[Contribution] = Field(
        default_factory=list, description="Top feature contributions, largest effect first."
    )
    comparables: list[Comparable] = Field(default_factory=list, description="Most similar past sales.")
