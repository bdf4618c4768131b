"""Bulk rows in chunks: one ``predictions.requests`` message carries many rows of a file job, and one
``predictions.results`` message carries their compact answers.

A chunk is keyed ``<job_id>:c<chunk>`` (``chunk_key``): a redelivered or re-sent chunk lands on the
same partition and its answer replaces the same entry, so it counts once. Its rows are the raw cells
of the file, as one JSON object per row (``rows``) or one array per field (``columns``, each name
written once: what the job service sends); each row is checked on its own, all at once
(``schemas.checks.check_columns``: column by column, with pydantic, in one ``TypeAdapter`` pass
(``check_rows``), only for rows whose cells are not plain), and an invalid row is answered
``failed`` with the same reasons a single request gets, never failing its chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from schemas.features import PropertyFeatures
from schemas.jobs import JobId, RowError
from schemas.messages import ErrorInfo, ModelRef, Source, utc_now
from schemas.valuation import Comparable, ConfidenceBand, Contribution

MAX_CHUNK_ROWS = 1_000
MAX_FULL_DETAIL_ROWS = 250
"""Most rows of a ``detail=full`` chunk: its answer on the results topic carries each row's contributions and
comparables, about 1.4 KB a row, and a message must stay under Kafka's 1 MiB (a 1,000-row answer at ``summary``
is about 240 KB)."""
INVALID_FEATURES = "invalid_features"
Detail = Literal["summary", "full"]
"""``summary``: price, intervals, FSD, confidence and status per row; ``full`` adds contributions and comparables."""


def rows_at_most(detail: Detail) -> int:
    """Most rows of a chunk at ``detail`` (the contract's one rule for a chunk's size)."""
    return MAX_FULL_DETAIL_ROWS if detail == "full" else MAX_CHUNK_ROWS


ChunkStatus = Literal["done", "failed"]


Columns = dict[str, list[Any]]
"""Cells field by field, every list one cell per row (``None``: the row lacks the field)."""


def size_of(columns: Mapping[str, Sequence[Any]]) -> int:
    """The number of rows of cells by field."""
    return len(next(iter(columns.values()))) if columns else 0


def chunk_key(job_id: str, chunk: int) -> str:
    """The Kafka key of a chunk and of its answer."""
    return f"{job_id}:c{chunk}"


class RowChunk(BaseModel):
    """Value of a bulk message on ``predictions.requests`` (key: ``<job_id>:c<chunk>``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    job_id: JobId = Field(description="The file job the rows belong to.", examples=["f3a9c0e2b1d4"])
    chunk: int = Field(ge=0, description="Index of the chunk in its job (rows first_row .. first_row+len-1).")
    first_row: int = Field(ge=0, description="Input row number of the chunk's first row.", examples=[500])
    submitted_at: datetime = Field(default_factory=utc_now, description="When the job's rows entered the system.")
    source: Source = Field(default="kafka", description="Entry point: file, or kafka for a Kafka-native producer.")
    detail: Detail = Field(
        default="summary",
        description=f"full: keep each row's contributions and comparables (then at most {MAX_FULL_DETAIL_ROWS} rows).",
    )
    rows: list[dict[str, Any]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CHUNK_ROWS,
        description="The rows' cells as PropertyFeatures objects (strings are coerced); each is checked alone. "
        "Either rows or columns.",
    )
    columns: dict[str, list[Any]] | None = Field(
        default=None,
        description="The same cells column by column: a PropertyFeatures field name to one cell per row (null: "
        "the row lacks that field), every column as long as the others. About a third of the bytes of rows, "
        "since each name is written once. Either rows or columns.",
        examples=[{"gr_liv_area": [1500, 2100], "year_built": [1990, 2004], "neighborhood": ["North_Ames", None]}],
    )

    @model_validator(mode="after")
    def _one_layout(self) -> Self:
        if (self.rows is None) == (self.columns is None):
            raise ValueError("a chunk carries its cells either as rows or as columns, not both or neither")
        if self.columns is not None:
            lengths = sorted({len(cells) for cells in self.columns.values()})
            if len(lengths) > 1:
                raise ValueError(f"columns hold one cell per row, but their lengths differ: {lengths}")
            if not lengths or not 1 <= lengths[0] <= MAX_CHUNK_ROWS:
                raise ValueError(f"a chunk holds 1 to {MAX_CHUNK_ROWS} rows")
        if self.size > rows_at_most(self.detail):  # only at detail=full: the general limit is checked above
            raise ValueError(
                f"a chunk at detail=full holds at most {rows_at_most(self.detail)} rows (its answer carries each "
                f"row's contributions and comparables), not {self.size}"
            )
        return self

    @property
    def size(self) -> int:
        """The number of rows."""
        return len(self.rows) if self.rows is not None else size_of(self.columns or {})


def columns_of(rows: Sequence[Mapping[str, Any]]) -> Columns:
    """Rows' cells as ``RowChunk.columns``: every name any row has, null where a row lacks it."""
    names = dict.fromkeys(name for row in rows for name in row)
    return {name: [row.get(name) for row in rows] for name in names}


class RowOutcome(BaseModel):
    """One row's answer in a chunk: its valuation in brief, or why it failed."""

    row: int = Field(ge=0, description="Input row number.")
    status: ChunkStatus
    price: float | None = None
    lower_80: float | None = None
    upper_80: float | None = None
    lower_90: float | None = None
    upper_90: float | None = None
    fsd: float | None = None
    confidence: float | None = None
    confidence_band: ConfidenceBand | None = None
    in_domain: bool | None = None
    flags: list[str] = Field(default_factory=list, description="The guard's reasons (empty inside the domain).")
    months_beyond_data: int | None = None
    error: ErrorInfo | None = None
    contributions: list[Contribution] | None = Field(default=None, description="Only with detail=full.")
    comparables: list[Comparable] | None = Field(default=None, description="Only with detail=full.")


class ChunkResult(BaseModel):
    """Value of a bulk answer on ``predictions.results`` (key: ``<job_id>:c<chunk>``): every row of the chunk,
    in input order, prices and intervals to the cent (as the job's results keep them)."""

    job_id: str
    chunk: int = Field(ge=0)
    first_row: int = Field(ge=0)
    source: Source | None = None
    model: ModelRef | None = None
    submitted_at: datetime
    scored_at: datetime
    inference_ms: float | None = Field(default=None, description="Model time of the chunk's batch.")
    rows: list[RowOutcome]

    @property
    def counts(self) -> tuple[int, int]:
        """Rows done and rows failed."""
        done = sum(1 for r in self.rows if r.status == "done")
        return done, len(self.rows) - done


ROW_OUTCOMES = TypeAdapter(list[RowOutcome])
"""Many rows' answers built from plain fields in one validation pass: about three times faster than
``RowOutcome.model_construct`` row by row (the workers' answers, the store's reads)."""


def _row_errors(row: int, items: Iterable[Mapping[str, Any]]) -> list[RowError]:
    return [RowError(row=row, field=".".join(str(p) for p in it["loc"]) or "row", reason=it["msg"]) for it in items]


def row_errors(row: int, error: ValidationError) -> list[RowError]:
    """One row's reasons: the field's path (``row`` for the row as a whole) and pydantic's message."""
    return _row_errors(row, error.errors(include_url=False))


def reason_of(errors: Sequence[RowError]) -> str:
    return "; ".join(f"{e.field}: {e.reason}" for e in errors)


_ROWS = TypeAdapter(list[PropertyFeatures])


@dataclass
class RowChecks:
    """The rows that are houses (with their positions in the chunk) and why the others are not."""

    valid: list[tuple[int, PropertyFeatures]] = field(default_factory=list)
    errors: dict[int, list[RowError]] = field(default_factory=dict)


def check_rows(rows: list[dict[str, Any]], first_row: int = 0) -> RowChecks:
    """Each row checked as ``PropertyFeatures.model_validate`` would, in one pass over the whole list.

    A failing pass names every bad row (the first part of an error's location is the row's position);
    the rest are validated again in one more pass. Error rows are numbered from ``first_row``.
    """
    try:
        return RowChecks(valid=list(enumerate(_ROWS.validate_python(rows))))
    except ValidationError as exc:
        failing = exc
    by_position: dict[int, list[dict[str, Any]]] = {}
    for item in failing.errors(include_url=False):
        position = int(item["loc"][0])
        by_position.setdefault(position, []).append({"loc": item["loc"][1:], "msg": item["msg"]})
    checks = RowChecks()
    for position, items in sorted(by_position.items()):
        checks.errors[position] = _row_errors(first_row + position, items)
    kept = [i for i in range(len(rows)) if i not in by_position]
    checks.valid = list(zip(kept, _ROWS.validate_python([rows[i] for i in kept]), strict=True))
    return checks
