"""A job's rows through the system: validate each row, hand the valid ones to Kafka, record
the invalid ones as failed rows.

Row ids are deterministic (``job_id-row``), so submitting a job again (a retry, or a resumed
CLI run) skips rows that already have a record instead of scoring them twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas import ErrorInfo, PredictionRequest, PredictionResult, PropertyFeatures, Source, Timings, utc_now
from schemas.chunks import reason_of, row_errors
from schemas.jobs import RowError, row_request_id
from state import State

Publish = Callable[[Sequence[PredictionRequest]], Awaitable[None]]
MAX_REPORTED_ERRORS = 1_000
# Rows validated, published and recorded per step. Each step is CPU work that holds the event
# loop; short steps let concurrent uploads and requests take turns, so none of their Kafka or
# Redis waits times out behind another upload's work on a busy machine.
SUBMIT_STEP = 500


@dataclass
class Validated:
    requests: list[PredictionRequest] = field(default_factory=list)
    failures: list[PredictionResult] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def validate_rows(
    job_id: str, first_row: int, rows: Iterable[dict[str, Any]], source: Source, submitted_at: datetime
) -> Validated:
    """Each row on its own: a valid one becomes a request, an invalid one a failed result."""
    out = Validated()
    for offset, raw in enumerate(rows):
        row = first_row + offset
        request_id = row_request_id(job_id, row)
        try:
            features = PropertyFeatures.model_validate(raw)
        except ValidationError as exc:
            errors = row_errors(row, exc)
            out.errors.extend(errors)
            out.failures.append(
                PredictionResult(
                    request_id=request_id,
                    job_id=job_id,
                    row=row,
                    source=source,
                    status="failed",
                    timings=Timings(submitted_at=submitted_at, scored_at=utc_now()),
                    error=ErrorInfo(code="invalid_features", message=reason_of(errors)),
                )
            )
            continue
        out.requests.append(
            PredictionRequest(
                request_id=request_id,
                job_id=job_id,
                row=row,
                submitted_at=submitted_at,
                source=source,
                features=features,
            )
        )
    return out


@dataclass
class Submitted:
    queued: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)


class JobSubmitter:
    """Submits one job chunk by chunk; ``skip_existing`` makes a re-submission resume. With
    ``with_meta`` each row's neighbourhood is kept too, for sale-price feedback on the row."""

    def __init__(
        self, state: State, publish: Publish, job_id: str, source: Source, skip_existing: bool, with_meta: bool = False
    ) -> None:
        self.predictions = state.predictions
        self.publish = publish
        self.job_id = job_id
        self.source = source
        self.skip_existing = skip_existing
        self.with_meta = with_meta
        self.next_row = 0
        self.outcome = Submitted()

    async def submit(self, rows: Sequence[dict[str, Any]]) -> Submitted:
        for start in range(0, len(rows), SUBMIT_STEP):
            await self._submit_step(rows[start : start + SUBMIT_STEP])
        return self.outcome

    async def _submit_step(self, rows: Sequence[dict[str, Any]]) -> None:
        checked = validate_rows(self.job_id, self.next_row, rows, self.source, utc_now())
        self.next_row += len(rows)
        requests = checked.requests
        if self.skip_existing and requests:
            known = await self.predictions.get_many([r.request_id for r in requests])
            requests = [r for r, k in zip(requests, known, strict=True) if k is None]
            self.outcome.skipped += len(checked.requests) - len(requests)
        if requests:
            if self.with_meta:
                await self.predictions.accept(requests, None)
            await self.publish(requests)
            await self.predictions.mark_queued(requests)
        if checked.failures:
            await self.predictions.save_results(checked.failures)
        self.outcome.queued += len(requests)
        self.outcome.failed += len(checked.failures)
        room = MAX_REPORTED_ERRORS - len(self.outcome.errors)
        self.outcome.errors.extend(checked.errors[: max(room, 0)])
