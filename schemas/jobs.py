"""Bodies of the batch and file-job endpoints, and the flat row of a job's results download."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from schemas.messages import PredictionResult, PredictionState

JobId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"),
]
"""A job id leaves room in the 64 characters of a request id for the row: ``job_id-row``."""
JobFormat = Literal["csv", "json", "parquet"]
JobState = Literal["running", "finished"]


def row_request_id(job_id: str, row: int) -> str:
    """Deterministic id of a job's row: a resumed or retried job never scores a row twice."""
    return f"{job_id}-{row}"


def split_row_request_id(request_id: str) -> tuple[str, int] | None:
    """The job id and row of a job row's request id (``row_request_id`` undone); None for any other id."""
    job_id, dash, row = request_id.rpartition("-")
    return (job_id, int(row)) if dash and job_id and row.isascii() and row.isdigit() else None


class BatchCreate(BaseModel):
    """Up to ``batch_max_rows`` houses; each row is validated on its own."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        strict=True,  # JSON types as documented: 0 or "false" is not a boolean
        json_schema_extra={
            "examples": [
                {
                    "houses": [
                        {"gr_liv_area": 1656, "year_built": 1960, "neighborhood": "North_Ames"},
                        {"gr_liv_area": 2100, "year_built": 2004, "neighborhood": "Somerset"},
                    ],
                    "all_or_nothing": False,
                }
            ]
        },
    )

    houses: list[dict[str, Any]] = Field(
        min_length=1, description="Houses as `PropertyFeatures` objects, validated one by one."
    )
    all_or_nothing: bool = Field(
        default=False, description="Reject the whole batch (422) if any row is invalid; by default valid rows run."
    )
    job_id: JobId | None = Field(
        default=None, description="Client-chosen job id; a retry with the same id is never scored twice."
    )


class RowError(BaseModel):
    row: int = Field(ge=0, description="Index of the row in the input (0-based).", examples=[3])
    field: str = Field(description="Field at fault, or `row` for the row as a whole.", examples=["gr_liv_area"])
    reason: str = Field(examples=["Input should be greater than or equal to 200"])


class JobAccepted(BaseModel):
    job_id: str = Field(examples=["5d0c2b8e9a7f4c1e"])
    total: int = Field(ge=0, description="Rows in the input.", examples=[1000])
    queued: int = Field(ge=0, description="Valid rows handed to Kafka.", examples=[998])
    failed: int = Field(ge=0, description="Rows rejected at validation (recorded as failed rows).", examples=[2])
    errors: list[RowError] = Field(default_factory=list, description="Why rows were rejected (first 1,000).")
    status_url: str = Field(examples=["/api/v1/jobs/5d0c2b8e9a7f4c1e"])
    results_url: str = Field(examples=["/api/v1/jobs/5d0c2b8e9a7f4c1e/results?format=csv"])


def job_pace(processed: int, total: int, created_at: datetime, now: datetime) -> tuple[float, float | None]:
    """Rows answered per second since creation, and the seconds left at that pace.

    Seconds left are 0 once every row is answered, and unknown (None) before the first one.
    """
    elapsed = (now - created_at).total_seconds()
    rate = processed / elapsed if elapsed > 0 else 0.0
    remaining = max(0, total - processed)
    if remaining == 0:
        return rate, 0.0
    return rate, (remaining / rate if rate > 0 else None)


class JobPublic(BaseModel):
    job_id: str = Field(examples=["5d0c2b8e9a7f4c1e"])
    source: str = Field(examples=["file"])
    state: JobState = Field(examples=["running"])
    created_at: datetime | None = None
    total: int = Field(ge=0, examples=[50_000])
    queued: int = Field(ge=0, description="Rows not yet answered.", examples=[12_000])
    done: int = Field(ge=0, examples=[37_900])
    failed: int = Field(ge=0, examples=[100])
    rate_per_second: float = Field(ge=0, description="Rows answered per second since creation.", examples=[2_500.0])
    eta_seconds: float | None = Field(default=None, ge=0, description="Estimated seconds left.", examples=[4.8])


class JobRow(BaseModel):
    """One line of a job's results: a price or a reason, in input order."""

    row: int
    request_id: str
    status: PredictionState
    price: float | None = None
    lower_80: float | None = None
    upper_80: float | None = None
    lower_90: float | None = None
    upper_90: float | None = None
    fsd: float | None = None
    confidence: float | None = None
    confidence_band: str | None = None
    in_domain: bool | None = Field(default=None, description="False when the guard flagged the house.")
    flags: str | None = Field(default=None, description="The guard's reasons, separated by '; '.")
    months_beyond_data: int | None = None
    model_version: str | None = None
    model_variant: str | None = Field(default=None, description="champion or challenger (canary rollout).")
    error_code: str | None = None
    error: str | None = None

    @classmethod
    def of(cls, job_id: str, row: int, result: PredictionResult | None) -> JobRow:
        if result is None:
            return cls(row=row, request_id=row_request_id(job_id, row), status="queued")
        bounds = {
            f"{side}_{round(i.level * 100)}": getattr(i, side) for i in result.intervals for side in ("lower", "upper")
        }
        return cls(
            row=row,
            request_id=result.request_id,
            status=result.status,
            price=result.price,
            lower_80=bounds.get("lower_80"),
            upper_80=bounds.get("upper_80"),
            lower_90=bounds.get("lower_90"),
            upper_90=bounds.get("upper_90"),
            fsd=result.fsd,
            confidence=result.confidence,
            confidence_band=result.confidence_band,
            in_domain=None if result.applicability is None else result.applicability.in_domain,
            flags=None if result.applicability is None else "; ".join(result.applicability.flags),
            months_beyond_data=result.months_beyond_data,
            model_version=None if result.model is None else result.model.version,
            model_variant=None if result.model is None else result.model.variant,
            error_code=None if result.error is None else result.error.code,
            error=None if result.error is None else result.error.message,
        )


JOB_ROW_COLUMNS: tuple[str, ...] = tuple(JobRow.model_fields)
ResultLine = tuple[Any, ...]
"""A result line's values in ``JOB_ROW_COLUMNS`` order: what a results file is written from."""


def line_of(row: JobRow) -> ResultLine:
    return tuple(getattr(row, name) for name in JOB_ROW_COLUMNS)


JOB_ROWS = TypeAdapter(list[JobRow])
"""Many result lines validated, or dumped, in one pass (far cheaper than a model call per row)."""
