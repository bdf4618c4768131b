"""Raw records become requests or dead letters with a readable reason; nothing raises."""

from __future__ import annotations

import json

from aiokafka import ConsumerRecord

from consumers.parsing import Accepted, ChunkAccepted, Rejected, parse_record, single_request
from consumers.worker import dead_letter_headers, rejected_result
from schemas.chunks import columns_of
from tests.records import consumer_record

HOUSE = {"gr_liv_area": 1500, "year_built": 1990, "neighborhood": "Gilbert"}


def record(value: bytes, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord:
    return consumer_record(value, key, offset=41, partition=2, headers=headers)


def test_valid_request_is_accepted_with_its_reply_topic() -> None:
    body = json.dumps({"request_id": "r1", "features": HOUSE}).encode()
    parsed = parse_record(record(body, b"r1", [("reply_to", b"my.replies")]))
    assert isinstance(parsed, Accepted)
    assert parsed.request.request_id == "r1"
    assert parsed.reply_to == "my.replies"


def test_bytes_that_are_not_json_are_rejected_and_keep_the_key_as_id() -> None:
    parsed = parse_record(record(b"\xff\xfe not json", b"r2"))
    assert isinstance(parsed, Rejected)
    assert parsed.code == "not_json"
    assert parsed.request_id == "r2"


def test_out_of_range_values_name_the_field() -> None:
    body = json.dumps({"request_id": "r3", "job_id": "j1", "row": 4, "features": HOUSE | {"gr_liv_area": -3}})
    parsed = parse_record(record(body.encode()))
    assert isinstance(parsed, Rejected)
    assert parsed.code == "invalid_request"
    assert "features.gr_liv_area" in parsed.reason
    assert (parsed.request_id, parsed.job_id, parsed.row) == ("r3", "j1", 4)


def test_rejected_request_becomes_a_failed_result_and_a_dead_letter() -> None:
    parsed = parse_record(record(json.dumps({"request_id": "r4", "features": {}}).encode(), headers=[("trace", b"t")]))
    assert isinstance(parsed, Rejected)
    result = rejected_result(parsed)
    assert result is not None
    assert result.status == "failed"
    assert result.error is not None
    assert "features.gr_liv_area" in result.error.message
    headers = dead_letter_headers(parsed)
    assert headers["x-error-code"] == "invalid_request"
    assert headers["x-source-topic"] == "predictions.requests"
    assert (headers["x-source-partition"], headers["x-source-offset"]) == ("2", "41")
    assert headers["trace"] == "t"


def test_a_message_without_any_id_is_only_dead_lettered() -> None:
    parsed = parse_record(record(b"[1, 2, 3]"))
    assert isinstance(parsed, Rejected)
    assert rejected_result(parsed) is None


def test_a_chunk_is_told_by_its_rows_or_its_columns() -> None:
    envelope = {"job_id": "job-1", "chunk": 3, "first_row": 750}
    columns = {k: [v, None] for k, v in HOUSE.items()}
    for layout in ({"rows": [HOUSE, {}]}, {"columns": columns}):
        parsed = parse_record(record(json.dumps(envelope | layout).encode(), b"job-1:c3"))
        assert isinstance(parsed, ChunkAccepted), layout
        assert (parsed.chunk.columns or columns_of(parsed.chunk.rows or [])) == columns
    uneven = {"columns": {"gr_liv_area": [1, 2], "year_built": [3]}}
    broken = parse_record(record(json.dumps(envelope | uneven).encode()))
    assert isinstance(broken, Rejected)
    assert (broken.code, broken.job_id) == ("invalid_chunk", None)
    assert "lengths differ" in broken.reason


def test_a_single_request_reader_gets_the_same_request_and_tells_chunks_from_bad_records() -> None:
    body = json.dumps(
        {"request_id": "r9", "features": HOUSE, "source": "kafka", "submitted_at": "2026-12-05T20:00:00+00:00"}
    ).encode()
    parsed = parse_record(record(body, b"r9"))
    assert isinstance(parsed, Accepted)
    assert single_request(record(body, b"r9")) == parsed.request
    chunk = {"job_id": "job-1", "chunk": 0, "first_row": 0, "rows": [HOUSE]}
    assert single_request(record(json.dumps(chunk).encode())) == "chunk"
    out_of_range = {"request_id": "r10", "features": HOUSE | {"gr_liv_area": -5}}
    for bad in (b"\xff not json", b"[1, 2]", json.dumps(out_of_range).encode(), b""):
        assert single_request(record(bad)) == "invalid", bad
