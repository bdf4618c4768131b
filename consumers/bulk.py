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
from itertools import chain
from typing import Any

import pandas as pd
import structlog
from pydantic import TypeAdapter

from consumers.metrics import SCORING_SECONDS
from consumers.model import LoadedModel, columns_frame
from consumers.recalibration import Recalibrator
from infra.recalibration import model_bounds
from schemas import FEATURE_NAMES, utc_now
from schemas.checks import check_columns, check_objects
from schemas.chunks import INVALID_FEATURES, Detail, RowChunk, reason_of
from schemas.valuation import REFUSED_CODE, Comparable
from state.chunks import STORED_LEVELS, AnswerColumns, ChunkAnswer, cents, detail_cells, failed_cells, summary_cells

log = structlog.get_logger(__name__)
MODEL_ERROR = "model_error"
COMPARABLES = TypeAdapter(list[Comparable])


@dataclass
class _Checked:
    chunk: RowChunk
    positions: list[int]  # valid rows' positions in the chunk
    values: dict[str, list[Any]]  # valid rows' values by field (FEATURE_NAMES)
    failed: dict[int, list[Any]]  # position -> stored cells of an invalid row

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
    failed = {position: failed_cells(INVALID_FEATURES, reason_of(errors)) for position, errors in checks.errors.items()}
    return _Checked(chunk, checks.valid, checks.values, failed)


def _predict(model: LoadedModel, frame: pd.DataFrame, detail: Detail) -> tuple[pd.DataFrame, float]:
    started = time.perf_counter()
    output = model.predict(frame, detail)
    seconds = time.perf_counter() - started
    SCORING_SECONDS.observe(seconds)
    return output, seconds * 1000


class _Answers:
    """Turns the model's output columns into the rows' stored cells (recalibrated intervals, detail on
    request) column by column, without one ``RowOutcome`` per row."""

    def __init__(self, model: LoadedModel, recalibrator: Recalibrator | None) -> None:
        self.model = model
        self.recalibrator = recalibrator

    def cells(self, checked: _Checked, output: pd.DataFrame) -> list[list[Any]]:
        """The valid rows' cells, in ``checked.positions`` order."""
        price = output["price"].to_numpy(float)
        bounds = model_bounds(output)
        if self.recalibrator is not None:
            conditions, grades = checked.values["sale_condition"], checked.values["overall_qual"]
            bounds, _ = self.recalibrator.apply(self.model.ref.version, conditions, grades, price, bounds)
        applicability = output["applicability"].tolist()
        cells = summary_cells(
            AnswerColumns(
                cents=[cents(price), *(cents(side) for level in STORED_LEVELS for side in bounds[level])],
                fsd=output["fsd"].tolist(),
                confidence=output["confidence"].tolist(),
                bands=output["confidence_band"].tolist(),
                in_domain=[a["in_domain"] for a in applicability],
                flags=[a["flags"] for a in applicability],
                months=output["months_beyond_data"].tolist(),
            )
        )
        if checked.chunk.detail == "full":
            details = zip(output["contributions"].tolist(), output["comparables"].tolist(), strict=True)
            for row, (contributions, comparables) in zip(cells, details, strict=True):
                shown = COMPARABLES.dump_python(COMPARABLES.validate_python(comparables), mode="json")
                row.extend(detail_cells(((c["feature"], c["value"]) for c in contributions), shown))
        for k, refusal in enumerate(output["refusal"].tolist()):
            if isinstance(refusal, str):
                cells[k] = failed_cells(REFUSED_CODE, refusal)
        return cells


def _score_chunk(model: LoadedModel, answers: _Answers, checked: _Checked) -> list[list[Any]]:
    """One chunk alone; if the model fails on it, each row alone."""
    try:
        output, _ = _predict(model, checked.frame(), checked.chunk.detail)
        return answers.cells(checked, output)
    except Exception as exc:
        log.warning("chunk_scoring_failed", job_id=checked.chunk.job_id, chunk=checked.chunk.chunk, error=str(exc))
    cells: list[list[Any]] = []
    for k in range(len(checked.positions)):
        one = checked.one(k)
        try:
            output, _ = _predict(model, one.frame(), checked.chunk.detail)
            cells.extend(answers.cells(one, output))
        except Exception as exc:
            cells.append(failed_cells(MODEL_ERROR, f"the model could not score this house: {exc}"))
    return cells


def score_chunks(
    model: LoadedModel, chunks: Sequence[RowChunk], recalibrator: Recalibrator | None = None
) -> tuple[list[ChunkAnswer], pd.DataFrame | None]:
    """Every chunk's answer (rows in input order), and the frame of all valid rows (for the drift monitor)."""
    if not chunks:
        return [], None
    checked = [_check(chunk) for chunk in chunks]
    answers = _Answers(model, recalibrator)
    frame = columns_frame({name: list(chain.from_iterable(c.values[name] for c in checked)) for name in FEATURE_NAMES})
    scored = len(frame)
    valid: list[list[list[Any]]] = []
    inference_ms: float | None = None
    try:
        # One call for the batch: with explanations if any of its chunks asked for them.
        detail: Detail = "full" if any(c.chunk.detail == "full" for c in checked) else "summary"
        output, inference_ms = _predict(model, frame, detail) if scored else (frame, 0.0)
        start = 0
        for c in checked:
            part = output.iloc[start : start + len(c.positions)]
            start += len(c.positions)
            valid.append(answers.cells(c, part))
    except Exception as exc:
        log.warning("bulk_scoring_failed", chunks=len(chunks), rows=scored, error=str(exc))
        valid = [_score_chunk(model, answers, c) for c in checked]
    scored_at = utc_now()
    results = []
    for c, cells in zip(checked, valid, strict=True):
        by_position = dict(zip(c.positions, cells, strict=True)) | c.failed
        results.append(
            ChunkAnswer(
                job_id=c.chunk.job_id,
                chunk=c.chunk.chunk,
                first_row=c.chunk.first_row,
                source=c.chunk.source,
                model=model.ref,
                submitted_at=c.chunk.submitted_at,
                scored_at=scored_at,
                inference_ms=inference_ms,
                cells=[by_position[i] for i in range(c.chunk.size)],
            )
        )
    return results, frame if scored else None
