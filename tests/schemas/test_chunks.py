"""Bulk chunks' rows are checked all at once, yet each row gets exactly the reasons it gets alone."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas import PropertyFeatures
from schemas.chunks import RowChunk, check_rows, chunk_key, reason_of, row_errors

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
