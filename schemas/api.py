"""Bodies of the REST API (``/api/v1``), named by role: ``*Create`` in, ``*Public`` out."""

from __future__ import annotations

import contextlib
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.features import PropertyFeatures
from schemas.messages import ModelRef, PredictionState, RequestId


class PredictionCreate(BaseModel):
    """One house to value; ``request_id`` is optional and makes retries safe."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    request_id: RequestId | None = Field(
        default=None, description="Client-chosen id; a retry with the same id is never scored twice."
    )
    features: PropertyFeatures

    @field_validator("features", mode="before")
    @classmethod
    def _json_types(cls, value: Any) -> Any:
        """A house from JSON is validated strictly: ``false`` is not a latitude, nor ``"3"`` a count of bedrooms.

        As in JSON Schema, a number with no fractional part (``1656.0``) is an integer, and a date is
        an ISO ``YYYY-MM-DD`` string. (``PropertyFeatures`` itself stays lax for the rows of CSV and
        Parquet files.)
        """
        if not isinstance(value, dict):
            return value
        house = {k: int(v) if k in INTEGER_FIELDS and _integral(v) else v for k, v in value.items()}
        when = house.get("valuation_date")
        if isinstance(when, str):
            with contextlib.suppress(ValueError):  # left as it is, it fails as "a valid date"
                house["valuation_date"] = date.fromisoformat(when)
        return PropertyFeatures.model_validate(house, strict=True)


def _integral(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


INTEGER_FIELDS = frozenset(
    name for name, info in PropertyFeatures.model_fields.items() if info.annotation in (int, int | None)
)


class PredictionAccepted(BaseModel):
    request_id: str = Field(examples=["0b1f7d4c2a9e4d3f8c6b5a4e3d2c1b0a"])
    status: PredictionState = Field(examples=["queued"])
    status_url: str = Field(examples=["/api/v1/predictions/0b1f7d4c2a9e4d3f8c6b5a4e3d2c1b0a"])


class ErrorBody(BaseModel):
    """Every error answer: a machine-readable code, a human message, field details for 422."""

    code: str = Field(examples=["validation_error"])
    message: str = Field(examples=["The request body is invalid."])
    details: list[FieldError] = Field(default_factory=list)


class FieldError(BaseModel):
    field: str = Field(examples=["features.gr_liv_area"])
    reason: str = Field(examples=["Input should be greater than or equal to 200"])


class DependencyState(BaseModel):
    ok: bool
    detail: str = ""


class WorkerHeartbeat(BaseModel):
    name: str
    model: ModelRef | None
    seen_at: datetime


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    kafka: DependencyState
    redis: DependencyState
    model: DependencyState
    workers: list[WorkerHeartbeat] = Field(default_factory=list)


ErrorBody.model_rebuild()
