"""A bulk chunk's answers built from the model's output columns: stored cells row by row, refusals
failed in place, detail only when asked, and the published rows saying the same."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import pytest

from consumers.bulk import _Answers, _Checked
from consumers.model import LoadedModel
from schemas import VALUATION_COLUMNS, ModelRef, utc_now
from schemas.chunks import ChunkResult, Detail, RowChunk
from schemas.valuation import REFUSED_CODE
from state.chunks import ChunkAnswer

REASON = "the location lies outside the area of the model's sales"
COMPARABLE = {
    "price": 172_000.0,
    "distance_km": 0.4,
    "sold": date(2009, 5, 1),
    "neighborhood": "North_Ames",
    "gr_liv_area": 1540,
    "year_built": 1962,
    "longitude": -93.6,
    "latitude": 42.0,
}


def output(rows: int) -> pd.DataFrame:
    """What the model answers for ``rows`` houses; the second is refused."""
    price = [150_000.123 + 1_000 * i for i in range(rows)]
    columns: dict[str, list[Any]] = {
        "price": price,
        "lower_80": [p * 0.881234 for p in price],
        "upper_80": [p * 1.134567 for p in price],
        "lower_90": [p * 0.841234 for p in price],
        "upper_90": [p * 1.184567 for p in price],
        "fsd": [0.0834] * rows,
        "confidence": [0.9166] * rows,
        "confidence_band": ["High", "Low", *["Medium"] * (rows - 2)],
        "base_price": [140_000.0] * rows,
        "contributions": [[{"feature": "gr_liv_area", "value": 9_000.5}, {"feature": "other features", "value": 1.0}]]
        * rows,
        "comparables": [[COMPARABLE]] * rows,
        "applicability": [
            {"in_domain": i != 1, "flags": [] if i != 1 else ["far away", "too big"], "novelty": 0.5}
            for i in range(rows)
        ],
        "months_beyond_data": [0, 3, *[0] * (rows - 2)],
        "refusal": [None, REASON, *[None] * (rows - 2)],
    }
    return pd.DataFrame(columns, columns=list(VALUATION_COLUMNS))


def answer(detail: Detail, rows: int = 4) -> tuple[list[list[Any]], ChunkAnswer]:
    chunk = RowChunk(job_id="j", chunk=2, first_row=500, detail=detail, columns={"gr_liv_area": [1500] * rows})
    model = LoadedModel(ModelRef(name="valuestream-price", version="7"), pyfunc=None)  # type: ignore[arg-type]
    checked = _Checked(chunk, list(range(rows)), {}, {})
    cells = _Answers(model, None).cells(checked, output(rows))
    now = utc_now()
    return cells, ChunkAnswer("j", 2, 500, "file", model.ref, now, now, 12.5, cells)


@pytest.mark.parametrize("detail", ["summary", "full"])
def test_cells_are_the_model_answers_to_the_cent_and_a_refused_row_fails_in_place(detail: Detail) -> None:
    cells, answer_ = answer(detail)
    out = output(4)
    assert cells[1] == [REFUSED_CODE, REASON]
    assert answer_.counts == (3, 1)
    for i in (0, 2, 3):
        row = cells[i]
        assert row[:5] == [round(out[name][i], 2) for name in ("price", "lower_80", "upper_80", "lower_90", "upper_90")]
        assert row[5:11] == [0.0834, 0.9166, "H" if i == 0 else "M", 1, "", 0]
        assert len(row) == (13 if detail == "full" else 11)
    published = ChunkResult.model_validate_json(answer_.message())
    assert [r.row for r in published.rows] == [500, 501, 502, 503]
    refused = published.rows[1]
    assert refused.status == "failed"
    assert refused.error is not None
    assert (refused.error.code, refused.error.message) == (REFUSED_CODE, REASON)
    first = published.rows[0]
    assert (first.status, first.price, first.confidence_band, first.in_domain) == ("done", 150_000.12, "High", True)
    if detail == "full":
        assert first.contributions is not None
        assert [(c.feature, c.value) for c in first.contributions] == [
            ("gr_liv_area", 9_000.5),
            ("other features", 1.0),
        ]
        assert first.comparables is not None
        assert first.comparables[0].model_dump() == COMPARABLE
    else:
        assert (first.contributions, first.comparables) == (None, None)
