"""Bulk chunks' rows are checked all at once, yet each row gets exactly the reasons it gets alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from infra.kafka import chunk_json, chunk_messages
from schemas import PropertyFeatures
from schemas.checks import check_columns, check_objects
from schemas.chunks import MAX_CHUNK_ROWS, RowChunk, check_rows, chunk_key, columns_of, reason_of, row_errors

GOOD = {"gr_liv_area": "1500", "year_built": "1990", "neighborhood": "Gilbert"}
ROWS: list[Any] = [
    GOOD,
    GOOD | {"gr_liv_area": "-5"},
    GOOD | {"colour": "red"},
    "not a row",
    GOOD | {"year_built": "3000", "bedrooms": "x"},
    GOOD | {"lot_area": "12000"},
    {},
]


def test_each_row_gets_the_reasons_it_gets_alone() -> None:
    checks = check_rows(ROWS, first_row=100)
    alone: dict[int, str] = {}
    for position, raw in enumerate(ROWS):
        try:
            PropertyFeatures.model_validate(raw)
        except ValidationError as exc:
            alone[position] = reason_of(row_errors(100 + position, exc))
    assert set(checks.errors) == set(alone) == {1, 2, 3, 4, 6}
    assert {p: reason_of(e) for p, e in checks.errors.items()} == alone
    assert all(e.row == 100 + p for p, errors in checks.errors.items() for e in errors)
    assert [p for p, _ in checks.valid] == [0, 5]
    assert checks.valid[1][1] == PropertyFeatures.model_validate(ROWS[5])


def test_a_clean_chunk_is_one_pass_with_every_row() -> None:
    checks = check_rows([GOOD] * 300)
    assert checks.errors == {}
    assert [p for p, _ in checks.valid] == list(range(300))


def test_chunk_messages_are_keyed_by_job_and_chunk() -> None:
    chunk = RowChunk(job_id="job-1", chunk=7, first_row=1750, rows=[GOOD])
    assert chunk_key(chunk.job_id, chunk.chunk) == "job-1:c7"
    assert RowChunk.model_validate_json(chunk.model_dump_json()) == chunk
    (message,) = chunk_messages("requests", [chunk])
    assert message.key == b"job-1:c7"
    assert RowChunk.model_validate_json(message.value) == chunk


def test_a_chunk_message_is_the_json_pydantic_writes() -> None:
    """Written by orjson for speed, read by everyone as pydantic's JSON: same fields, order and values."""
    columns: dict[str, list[Any]] = {
        "gr_liv_area": [1500, None, Decimal("1710.5")],
        "neighborhood": ["Gilbert", "Old_Town", None],
    }
    for chunk in (
        RowChunk.model_construct(job_id="job-1", chunk=0, first_row=0, source="file", detail="full", columns=columns),
        RowChunk(
            job_id="job-1", chunk=3, first_row=750, submitted_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), rows=[GOOD]
        ),
    ):
        assert json.loads(chunk_json(chunk)) == json.loads(chunk.model_dump_json())
        assert list(json.loads(chunk_json(chunk))) == list(RowChunk.model_fields)


def test_columns_carry_the_same_rows_and_get_the_same_reasons() -> None:
    rows = [r for r in ROWS if isinstance(r, dict)]
    by_rows = RowChunk(job_id="job-1", chunk=0, first_row=100, rows=rows)
    sent = RowChunk(job_id="job-1", chunk=0, first_row=100, columns=columns_of(rows))
    by_columns = RowChunk.model_validate_json(sent.model_dump_json())
    names = {"gr_liv_area", "year_built", "neighborhood", "colour", "bedrooms", "lot_area"}
    assert set(by_columns.columns or {}) == names
    assert by_columns.size == by_rows.size == len(rows)
    assert by_columns.columns == columns_of(rows)  # null: a field the row lacks
    rows_checks, columns_checks = check_objects(by_rows.rows or [], 100), check_columns(by_columns.columns or {}, 100)
    assert columns_checks.errors == rows_checks.errors == check_rows(rows, 100).errors
    assert len(columns_checks.errors) == 4
    assert columns_checks.valid == rows_checks.valid
    assert columns_checks.values == rows_checks.values


def test_a_null_in_a_row_object_is_refused_as_in_a_single_request() -> None:
    """In ``rows`` a null is a value (lot_area takes none), in ``columns`` a cell the row lacks."""
    row = dict(GOOD, lot_area=None)
    assert reason_of(check_objects([row], 7).errors[0]) == "lot_area: Input should be a valid integer"
    assert check_columns(columns_of([row]), 7).valid == [0]


@pytest.mark.parametrize(
    ("layout", "reason"),
    [
        ({}, "either as rows or as columns"),
        ({"rows": [GOOD], "columns": {"gr_liv_area": [1500]}}, "either as rows or as columns"),
        ({"columns": {"gr_liv_area": [1500, 1600], "year_built": [1990]}}, "lengths differ: \\[1, 2\\]"),
        ({"columns": {}}, f"1 to {MAX_CHUNK_ROWS} rows"),
        ({"columns": {"gr_liv_area": []}}, f"1 to {MAX_CHUNK_ROWS} rows"),
        ({"columns": {"gr_liv_area": [1500] * (MAX_CHUNK_ROWS + 1)}}, f"1 to {MAX_CHUNK_ROWS} rows"),
    ],
)
def test_a_chunk_without_one_clear_layout_is_refused_whole(layout: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        RowChunk.model_validate({"job_id": "job-1", "chunk": 0, "first_row": 0, **layout})
