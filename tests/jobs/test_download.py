"""A bulk job's results read back while it is scored: in input order, each row once, against a real Redis."""

from __future__ import annotations

import pytest

from infra.settings import Settings
from jobs.download import LINE_COLUMNS, answered_rows, chunk_lines
from schemas import utc_now
from schemas.jobs import JOB_ROW_COLUMNS, JobRow, ResultLine
from state import ANONYMOUS, State
from state.chunks import ChunkAnswer, decode_chunk
from tests.state.test_chunks import ROWS, answered, chunk
from tests.state.test_predictions import run_with_store

pytestmark = pytest.mark.integration


def job_row(line: ResultLine) -> JobRow:
    """A result line as a ``JobRow``: checked, and read by name."""
    return JobRow.model_validate(dict(zip(JOB_ROW_COLUMNS, line, strict=True)))


TOTAL = 3 * ROWS - 10  # the last chunk is short


def test_rows_come_in_input_order_as_soon_as_every_chunk_before_them_is_answered(base_settings: Settings) -> None:
    async def body(store: State) -> None:
        await store.jobs.create("j", TOTAL, "file", ANONYMOUS, utc_now(), chunk_rows=ROWS)
        rows = answered_rows(store, "j", TOTAL, ROWS, read_rows=1_000)
        await store.chunks.save([answered("j", 1)])
        assert await anext(rows) == []  # chunk 1 is answered, but chunk 0 is not yet
        assert await anext(rows) == []
        await store.chunks.save([answered("j", 0)])
        first = [job_row(line) for line in await anext(rows)]
        assert [r.row for r in first] == list(range(2 * ROWS))
        assert await anext(rows) == []
        whole = chunk("j", 2)
        await store.chunks.save([ChunkAnswer.of(whole.model_copy(update={"rows": whole.rows[: TOTAL - 2 * ROWS]}))])
        last = [job_row(line) for line in await anext(rows)]
        assert [r.row for r in last] == list(range(2 * ROWS, TOTAL))
        assert {r.status for r in [*first, *last]} == {"done", "failed"}
        assert all(r.model_version == "3" and r.request_id == f"j-{r.row}" for r in [*first, *last])
        with pytest.raises(StopAsyncIteration):
            await anext(rows)

    run_with_store(base_settings, body)


def test_result_lines_carry_each_stored_answer_field_for_field() -> None:
    """Done and failed rows, at full detail too: the line read back from the compact store says what the
    worker's answer said (prices to the cent, as stored)."""
    for full in (False, True):
        result = chunk("j", 1, full=full)
        lines = [job_row(line) for line in chunk_lines("j", decode_chunk(1, ChunkAnswer.of(result).stored()))]
        assert [line.row for line in lines] == [answer.row for answer in result.rows]
        for line, answer in zip(lines, result.rows, strict=True):
            assert line.request_id == f"j-{answer.row}"
            assert line.status == answer.status
            assert line.model_version == "3"
            if answer.error is not None:
                assert (line.error_code, line.error, line.price, line.flags) == (
                    answer.error.code,
                    answer.error.message,
                    None,
                    None,
                )
                continue
            assert line.price == pytest.approx(answer.price, abs=0.005)
            assert line.upper_90 == pytest.approx(answer.upper_90, abs=0.005)
            assert (line.fsd, line.confidence, line.confidence_band, line.in_domain) == (
                answer.fsd,
                answer.confidence,
                answer.confidence_band,
                answer.in_domain,
            )
            assert line.flags == "; ".join(answer.flags)
            assert line.months_beyond_data == answer.months_beyond_data
            assert (line.error_code, line.error) == (None, None)


def test_lines_are_laid_out_as_the_result_columns() -> None:
    assert LINE_COLUMNS == JOB_ROW_COLUMNS
