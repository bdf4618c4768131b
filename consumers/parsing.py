"""Turn raw Kafka records into requests or bulk chunks, or into dead letters with a readable reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aiokafka import ConsumerRecord
from pydantic import ValidationError
from pydantic_core import from_json

from schemas.chunks import RowChunk
from schemas.messages import PredictionRequest
from schemas.topics import REPLY_TO_HEADER

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Accepted:
    record: ConsumerRecord[bytes, bytes]
    request: PredictionRequest
    reply_to: str | None


@dataclass(frozen=True, slots=True)
class ChunkAccepted:
    """A bulk message: many rows of one job (``schemas.chunks``); its rows are checked when scored."""

    record: ConsumerRecord[bytes, bytes]
    chunk: RowChunk
    reply_to: str | None


@dataclass(frozen=True, slots=True)
class Rejected:
    record: ConsumerRecord[bytes, bytes]
    code: str
    reason: str
    request_id: str | None
    job_id: str | None
    row: int | None
    submitted_at: datetime | None


def validation_reason(error: ValidationError) -> str:
    """'features.gr_liv_area: Input should be ...; ...' — field paths with pydantic's messages."""
    parts = []
    for item in error.errors(include_url=False):
        path = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{path}: {item['msg']}")
    return "; ".join(parts)


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode("utf-8", errors="replace")
    return None


def _identity(data: Any, record: ConsumerRecord[bytes, bytes]) -> tuple[str | None, str | None, int | None]:
    """Best-effort ids of a bad message: the body's, else the key (the contract's request id)."""
    request_id = job_id = None
    row = None
    if isinstance(data, dict):
        candidate = data.get("request_id")
        request_id = candidate if isinstance(candidate, str) and _ID.match(candidate) else None
        job = data.get("job_id")
        job_id = job if isinstance(job, str) and _ID.match(job) else None
        raw_row = data.get("row")
        row = raw_row if isinstance(raw_row, int) and not isinstance(raw_row, bool) and raw_row >= 0 else None
    if request_id is None and record.key:
        key = record.key.decode("utf-8", errors="replace")
        request_id = key if _ID.match(key) else None
    return request_id, job_id, row


def is_chunk(data: Any) -> bool:
    """A bulk message carries ``rows`` or ``columns`` (a single request carries ``features``)."""
    return isinstance(data, dict) and ("rows" in data or "columns" in data) and "features" not in data


def parse_chunk(record: ConsumerRecord[bytes, bytes], data: Any) -> ChunkAccepted | Rejected:
    """The chunk's envelope is checked here; a bad envelope (no job, no rows) is a dead letter as a whole."""
    try:
        chunk = RowChunk.model_validate(data)
    except ValidationError as exc:
        return Rejected(record, "invalid_chunk", validation_reason(exc), None, None, None, None)
    return ChunkAccepted(record, chunk, header(record, REPLY_TO_HEADER))


def parse_record(record: ConsumerRecord[bytes, bytes]) -> Accepted | ChunkAccepted | Rejected:
    raw = record.value or b""
    try:
        data = from_json(raw)  # pydantic's parser: about twice as fast as json.loads on a bulk chunk
    except ValueError as exc:
        request_id, _, _ = _identity(None, record)
        return Rejected(record, "not_json", f"value is not JSON: {exc}", request_id, None, None, None)
    if is_chunk(data):
        return parse_chunk(record, data)
    try:
        request = PredictionRequest.model_validate(data)
    except ValidationError as exc:
        request_id, job_id, row = _identity(data, record)
        submitted = data.get("submitted_at") if isinstance(data, dict) else None
        submitted_at = None
        if isinstance(submitted, str):
            try:
                submitted_at = datetime.fromisoformat(submitted)
            except ValueError:
                submitted_at = None
        return Rejected(record, "invalid_request", validation_reason(exc), request_id, job_id, row, submitted_at)
    return Accepted(record, request, header(record, REPLY_TO_HEADER))


def single_request(record: ConsumerRecord[bytes, bytes]) -> PredictionRequest | Literal["chunk", "invalid"]:
    """The record's request, for a reader that scores single requests only (the shadow scorer): validated
    straight from the bytes in one pass, about a third less CPU than ``parse_record``'s parse then validate.
    A bulk chunk or a bad record is only told apart: it is not checked, and gets no reason."""
    raw = record.value or b""
    try:
        return PredictionRequest.model_validate_json(raw)
    except ValidationError:
        pass
    try:
        return "chunk" if is_chunk(from_json(raw)) else "invalid"
    except ValueError:
        return "invalid"
