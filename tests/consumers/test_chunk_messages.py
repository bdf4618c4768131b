"""The largest chunks a job sends fit one Kafka message each way, with the real model's answers: a
``summary`` chunk of ``MAX_CHUNK_ROWS`` Ames houses and a ``detail=full`` chunk of ``MAX_FULL_DETAIL_ROWS``
(contributions and comparables, about 1.4 KB a row) stay under the producer's batch, far below Kafka's 1 MiB."""

from __future__ import annotations

import pytest

from consumers.bulk import score_chunks
from consumers.model import ModelHolder
from dataset.sales import load
from infra.kafka import MAX_BATCH_BYTES, chunk_json
from infra.settings import Settings
from schemas import FEATURE_NAMES
from schemas.chunks import MAX_CHUNK_ROWS, MAX_FULL_DETAIL_ROWS, Detail, RowChunk

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("detail", "rows"), [("summary", MAX_CHUNK_ROWS), ("full", MAX_FULL_DETAIL_ROWS)])
def test_the_largest_chunk_and_its_answer_fit_one_message(settings: Settings, detail: Detail, rows: int) -> None:
    houses = load().features.iloc[:rows]
    columns = {name: [None if v != v else v for v in houses[name].tolist()] for name in FEATURE_NAMES}
    chunk = RowChunk(job_id="sizes", chunk=0, first_row=0, detail=detail, columns=columns)
    holder = ModelHolder(settings)
    holder.refresh()

    (answer,), _ = score_chunks(holder.current, [chunk])

    assert answer.counts == (rows, 0)
    sent, answered = len(chunk_json(chunk)), len(answer.message())
    assert sent < MAX_BATCH_BYTES, f"a {rows}-row chunk is {sent} bytes"
    assert answered < MAX_BATCH_BYTES, f"the answer of a {rows}-row chunk at {detail} is {answered} bytes"
    if detail == "full":
        assert answered > rows * 1_000  # the rows' contributions and comparables are in it
