"""Messages on the Kafka topics; the result record is also what Redis and the API hold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.calibration import Segment
from schemas.features import PropertyFeatures
from schemas.valuation import (
    BAND_DESCRIPTION,
    BASE_PRICE_DESCRIPTION,
    CONFIDENCE_DESCRIPTION,
    FSD_DESCRIPTION,
    MONTHS_BEYOND_DESCRIPTION,
    Applicability,
    Comparable,
    ConfidenceBand,
    Contribution,
    Interval,
)

RequestId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"),
]
Source = Literal["rest", "batch", "file", "kafka"]
PredictionState = Literal["queued", "done", "failed"]
Variant = Literal["champion", "challenger"]
"""Which registered alias produced a valuation: the serving champion or the challenger beside it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class PredictionRequest(BaseModel):
    """Value of a message on ``predictions.requests`` (key: ``request_id``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    request_id: RequestId = Field(description="Unique id; the Kafka key and the Redis key.", examples=["3f2a9c0e"])
    job_id: RequestId | None = Field(default=None, description="Batch or file job this request belongs to.")
    row: int | None = Field(default=None, ge=0, description="Position of the request in its job's input.")
    submitted_at: datetime = Field(default_factory=utc_now, description="When the request entered the system (UTC).")
    source: Source = Field(default="kafka", description="Entry point: rest, batch, file or kafka.")
    features: PropertyFeatures


class ModelRef(BaseModel):
    name: str = Field(examples=["valuestream-price"])
    version: str = Field(examples=["3"])
    variant: Variant = Field(
        default="champion",
        description="The alias whose model answered: 'champion', or 'challenger' for a canary's share of requests.",
    )


class Timings(BaseModel):
    submitted_at: datetime
    scored_at: datetime | None = None
    queue_ms: float | None = Field(default=None, description="From submission until the worker took the batch.")
    inference_ms: float | None = Field(default=None, description="Model time of the batch this request was in.")


class ErrorInfo(BaseModel):
    code: str = Field(description="Machine-readable error code.", examples=["invalid_features"])
    message: str = Field(
        description="Readable reason.", examples=["gr_liv_area: Input should be greater than or equal to 200"]
    )


class Subject(BaseModel):
    """The valued house in brief, for maps and per-neighbourhood figures (not the whole request)."""

    neighborhood: str = Field(examples=["North_Ames"])
    gr_liv_area: int = Field(description="Living area, square feet.", examples=[1656])
    longitude: float | None = Field(default=None, description="As given by the client; null when not given.")
    latitude: float | None = None

    @classmethod
    def of(cls, features: PropertyFeatures) -> Subject:
        return cls(
            neighborhood=features.neighborhood,
            gr_liv_area=features.gr_liv_area,
            longitude=features.longitude,
            latitude=features.latitude,
        )


class AnswerHead(BaseModel):
    """Who answered a request, and at what price: a stored ``PredictionResult`` read without the rest
    (the shadow scorer compares with these; the explanations would cost most of the read)."""

    status: PredictionState
    price: float | None = None
    model: ModelRef | None = None


class PredictionResult(BaseModel):
    """A request's state: the Redis record, the API answer and (done/failed) ``predictions.results``."""

    request_id: RequestId
    job_id: str | None = None
    row: int | None = None
    source: Source | None = None
    status: PredictionState
    price: float | None = Field(default=None, description="Predicted sale price, dollars.")
    intervals: list[Interval] = Field(default_factory=list)
    fsd: float | None = Field(default=None, ge=0, description=FSD_DESCRIPTION)
    confidence: float | None = Field(default=None, ge=0, le=1, description=CONFIDENCE_DESCRIPTION)
    confidence_band: ConfidenceBand | None = Field(default=None, description=BAND_DESCRIPTION)
    applicability: Applicability | None = Field(
        default=None, description="Whether the house lies inside the model's experience, and why not."
    )
    months_beyond_data: int | None = Field(default=None, ge=0, description=MONTHS_BEYOND_DESCRIPTION)
    base_price: float | None = Field(default=None, description=BASE_PRICE_DESCRIPTION)
    contributions: list[Contribution] = Field(
        default_factory=list,
        description="Largest effects first, then 'other features'; they add up to price - base_price.",
    )
    comparables: list[Comparable] = Field(default_factory=list)
    model: ModelRef | None = None
    subject: Subject | None = Field(default=None, description="The valued house in brief; null for unreadable input.")
    segment: Segment | None = Field(
        default=None, description="The segment whose online recalibration the intervals carry (null when failed)."
    )
    timings: Timings
    error: ErrorInfo | None = None
