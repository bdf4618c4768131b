"""Score bulk chunks: every valid row of a batch's chunks in one vectorised model call, answered compactly.

Each chunk's rows are checked column by column (``schemas.checks.check_columns``: no model per row;
the model's input frame is built from the checked columns); an invalid row is answered
``failed`` (code ``invalid_features``) with the reasons a single request would get, and its chunk goes
on. If the model fails on the whole batch, each chunk is scored alone, and in a chunk that still fails
each row alone: a row the model cannot score fails by itself (``model_error``), never its chunk.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import structlog

from consumers.metrics import SCORING_SECONDS
from consumers.model import LoadedModel, columns_frame
from consumers.recalibration import Recalibrator, model_bounds
from schemas import FEATURE_NAMES, utc_now
from schemas.checks import check_columns, check_objects
from schemas.chunks import (
    INVALID_FEATURES,
    ROW_OUTCOMES,
    ChunkResult,
    Detail,
    RowChunk,
    RowOutcome,
    reason_of,
)
from schemas.valuation import REFUSED_CODE

log = structlog.get_logger(__name__)
MODEL_ERROR = "model_error"


def _failed(row: int, code: str, message: str) -> dict[str, Any]:
    return {"row": row, "status": "failed", "error": {"code": code, "message": message}}


def failed_row(row: int, code: str, message: str) -> RowOutcome:
    return RowOutcome.model_validate(_failed(row, code, message))


@dataclass
class _Checked:
    chunk: RowChunk
    positions: list[int]  # valid rows' positions in the chunk
    values: dict[str, list[Any]]  # valid rows' values by field (FEATURE_NAMES)
    failed: dict[int, RowOutcome]  # position -> answer of an invalid row

    def frame(self) -> pd.DataFrame:
        return columns_frame(self.values)

    def one(self, k: int) -> _Checked:
        """The ``k``-th valid row alone."""
        return _Checked(self.chunk, [self.positions[k]], {n: [c[k]] for n, c in self.values.items()}, {})


def _check(chunk: RowChunk) -> _Checked:
    first = chunk.first_row
    checks = (
        check_columns(chunk.columns, first) if chunk.columns is not None else check_objects(chunk.rows or [], first)
    )
    failed = {
        position: failed_row(chunk.first_row + position, INVALID_FEATURES, reason_of(errors))
        for position, errors in checks.errors.items()
    }
    return _Checked(chunk, checks.valid, checks.values, failed)


def _predict(model: LoadedModel, frame: pd.DataFrame, detail: Detail) -> tuple[pd.DataFrame, float]:
    started = time.perf_counter()
    output = model.predict(frame, detail)
    seconds = time.perf_counter() - started
    SCORING_SECONDS.observe(seconds)
    return output, seconds * 1000


class _Answers:
    """Turns the model's output columns into row answers (recalibrated intervals, detail on request),
    column by column: only the answers themselves are built per row."""

    def __init__(self, model: LoadedModel, recalibrator: Recalibrator | None) -> None:
        self.model = model
        self.recalibrator = recalibrator

    def rows(self, checked: _Checked, output: pd.DataFrame) -> list[RowOutcome]:
        price = output["price"].to_numpy(float)
        bounds = model_bounds(output)
        if self.recalibrator is not None:
            conditions, grades = checked.values["sale_condition"], checked.values["overall_qual"]
            bounds, _ = self.recalibrator.apply(self.model.ref.version, conditions, grades, price, bounds)
        cells: dict[str, list[Any]] = {
            "price": price.tolist(),
            **{
                f"{side}_{round(level * 100)}": column.tolist()
                for level, b in bounds.items()
                for side, column in zip(("lower", "upper"), b, strict=True)
            },
            **{name: output[name].tolist() for name in ("fsd", "confidence", "confidence_band", "months_beyond_data")},
        }
        applicability = output["applicability"].tolist()
        cells["in_domain"] = [a["in_domain"] for a in applicability]
        cells["flags"] = [a["flags"] for a in applicability]
        if checked.chunk.detail == "full":
            cells["contributions"] = output["contributions"].tolist()
            cells["comparables"] = output["comparables"].tolist()
        names = list(cells)
        first = checked.chunk.first_row
        answers = [
            _failed(first + position, REFUSED_CODE, refusal)
            if isinstance(refusal, str)
            else {"row": first + position, "status": "done", **dict(zip(names, values, strict=True))}
            for position, refusal, values in zip(
                checked.positions, output["refusal"].tolist(), zip(*cells.values(), strict=True), strict=True
            )
        ]
        return ROW_OUTCOMES.validate_python(answers)


def _score_chunk(model: LoadedModel, answers: _Answers, checked: _Checked) -> list[RowOutcome]:
    """One chunk alone; if the model fails on it, each row alone."""
    try:
        output, _ = _predict(model, checked.frame(), checked.chunk.detail)
        return answers.rows(checked, output)
    except Exception as exc:
        log.warning("chunk_scoring_failed", job_id=checked.chunk.job_id, chunk=checked.chunk.chunk, error=str(exc))
    rows: list[RowOutcome] = []
    for k in range(len(checked.positions)):
        one = checked.one(k)
        try:
            output, _ = _predict(model, one.frame(), checked.chunk.detail)
            rows.extend(answers.rows(one, output))
        except Exception as exc:
            row = checked.chunk.first_row + one.positions[0]
            rows.append(failed_row(row, MODEL_ERROR, f"the model could not score this house: {exc}"))
    return rows


def score_chunks(
    model: LoadedModel, chunks: Sequence[RowChunk], recalibrator: Recalibrator | None = None
) -> tuple[list[ChunkResult], pd.DataFrame | None]:
    """Every chunk's answer (rows in input order), and the frame of all valid rows (for the drift monitor)."""
    if not chunks:
        return [], None
    checked = [_check(chunk) for chunk in chunks]
    answers = _Answers(model, recalibrator)
    frame = columns_frame({name: [v for c in checked for v in c.values[name]] for name in FEATURE_NAMES})
    scored = len(frame)
    valid: list[list[RowOutcome]] = []
    inference_ms: float | None = None
    try:
        # One call for the batch: with explanations if any of its chunks asked for them.
        detail: Detail = "full" if any(c.chunk.detail == "full" for c in checked) else "summary"
        output, inference_ms = _predict(model, frame, detail) if scored else (frame, 0.0)
        start = 0
        for c in checked:
            part = output.iloc[start : start + len(c.positions)]
            start += len(c.positions)
            valid.append(answers.rows(c, part))
    except Exception as exc:
        log.warning("bulk_scoring_failed", chunks=len(chunks), rows=scored, error=str(exc))
        valid = [_score_chunk(model, answers, c) for c in checked]
    scored_at = utc_now()
    results = []
    for c, rows in zip(checked, valid, strict=True):
        by_row = {r.row: r for r in rows} | {o.row: o for o in c.failed.values()}
        results.append(
            ChunkResult(
                job_id=c.chunk.job_id,
                chunk=c.chunk.chunk,
                first_row=c.chunk.first_row,
                source=c.chunk.source,
                model=model.ref,
                submitted_at=c.chunk.submitted_at,
                scored_at=scored_at,
                inference_ms=inference_ms,
                rows=[by_row[c.chunk.first_row + i] for i in range(c.chunk.size)],
            )
        )
    return results, frame if scored else None
