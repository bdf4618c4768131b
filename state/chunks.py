"""Bulk jobs' answers, compact and per chunk: one hash field per chunk, read back in input order.

A chunk's field holds ``[done, failed, first_row, model_version, rows]`` as compact JSON; a row is
``[price, lower_80, upper_80, lower_90, upper_90, fsd, confidence, band, in_domain, flags, months]``
(prices in cents' precision, band as its initial, flags joined by "; ") when done, with
``contributions`` and ``comparables`` appended only when the job asked for ``detail=full``, and
``[error_code, message]`` when failed. About 90 bytes a row.

Saving a chunk is one Lua script: it drops the answer of a job erased after its rows were submitted
(the job's tombstone), replaces the chunk's field and moves the job's ``done``/``failed`` counters by
the difference from what the field held before, so a chunk scored twice counts once. Every key
expires after the retention; erase lives with the job (``state.jobs``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from schemas.chunks import ROW_OUTCOMES, ChunkResult, RowOutcome
from schemas.messages import ErrorInfo
from state.clock import epoch_ms
from state.errors import guarded
from state.keys import Keys

# KEYS: chunks hash, job hash, job tombstone; ARGV: chunk, value, done, failed, ttl, submitted ms
SAVE_CHUNK = """
local erased = redis.call('GET', KEYS[3])
if erased and tonumber(ARGV[6]) <= tonumber(erased) then return -1 end
local done, failed = tonumber(ARGV[3]), tonumber(ARGV[4])
local before = redis.call('HGET', KEYS[1], ARGV[1])
local new = 1
if before then
  local d, f = string.match(before, '^%[(%d+),(%d+),')
  done, failed, new = done - tonumber(d), failed - tonumber(f), 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if done ~= 0 then redis.call('HINCRBY', KEYS[2], 'done', done) end
if failed ~= 0 then redis.call('HINCRBY', KEYS[2], 'failed', failed) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return new
"""
# KEYS: sent set, job hash; ARGV: ttl, chunk indexes. A job erased meanwhile (no hash) gets no mark.
MARK_SENT = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
BANDS = {"High": "H", "Medium": "M", "Low": "L"}
BAND_NAMES = {v: k for k, v in BANDS.items()}


def _cents(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def encode_row(row: RowOutcome) -> list[Any]:
    if row.status == "failed":
        error = row.error or ErrorInfo(code="failed", message="")
        return [error.code, error.message]
    cells: list[Any] = [
        _cents(row.price),
        _cents(row.lower_80),
        _cents(row.upper_80),
        _cents(row.lower_90),
        _cents(row.upper_90),
        row.fsd,
        row.confidence,
        None if row.confidence_band is None else BANDS[row.confidence_band],
        None if row.in_domain is None else int(row.in_domain),
        "; ".join(row.flags),
        row.months_beyond_data,
    ]
    if row.contributions is not None or row.comparables is not None:
        cells.append([[c.feature, c.value] for c in row.contributions or []])
        cells.append([c.model_dump(mode="json") for c in row.comparables or []])
    return cells


def row_fields(row: int, cells: list[Any]) -> dict[str, Any]:
    """A stored row (written by ``encode_row``) as ``RowOutcome`` fields."""
    if len(cells) == 2:
        return {"row": row, "status": "failed", "error": {"code": cells[0], "message": cells[1]}}
    price, lower_80, upper_80, lower_90, upper_90, fsd, confidence, band, in_domain, flags, months = cells[:11]
    fields: dict[str, Any] = {
        "row": row,
        "status": "done",
        "price": price,
        "lower_80": lower_80,
        "upper_80": upper_80,
        "lower_90": lower_90,
        "upper_90": upper_90,
        "fsd": fsd,
        "confidence": confidence,
        "confidence_band": None if band is None else BAND_NAMES[band],
        "in_domain": None if in_domain is None else bool(in_domain),
        "flags": flags.split("; ") if flags else [],
        "months_beyond_data": months,
    }
    if len(cells) > 11:
        fields["contributions"] = [{"feature": f, "value": v} for f, v in cells[11]]
        fields["comparables"] = cells[12]
    return fields


def encode_chunk(result: ChunkResult) -> str:
    done, failed = result.counts
    version = None if result.model is None else result.model.version
    rows = [encode_row(r) for r in result.rows]
    return json.dumps([done, failed, result.first_row, version, rows], separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk's answers as kept: its rows in input order (``RowOutcome`` fields) and the model version
    that scored them. Rows become ``RowOutcome``s only when asked for: a download validates its result
    lines once, as ``JobRow``s, not each row twice."""

    chunk: int
    first_row: int
    model_version: str | None
    fields: list[dict[str, Any]]

    @property
    def rows(self) -> list[RowOutcome]:
        return ROW_OUTCOMES.validate_python(self.fields)

    def outcome(self, row: int) -> RowOutcome:
        """The answer of one row of the job (a row of this chunk)."""
        return RowOutcome.model_validate(self.fields[row - self.first_row])


def decode_chunk(chunk: int, raw: str) -> StoredChunk:
    _, _, first_row, version, rows = json.loads(raw)
    return StoredChunk(chunk, first_row, version, [row_fields(first_row + i, cells) for i, cells in enumerate(rows)])


class ChunkStore:
    def __init__(self, client: Redis, keys: Keys, ttl_seconds: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_seconds = ttl_seconds
        self._save = client.register_script(SAVE_CHUNK)
        self._mark_sent = client.register_script(MARK_SENT)

    @guarded
    async def save(self, results: Sequence[ChunkResult]) -> int:
        """Write chunks' answers in one pipeline; returns how many chunks were new (not rescored, not erased)."""
        if not results:
            return 0
        async with self.client.pipeline(transaction=False) as pipe:
            for result in results:
                done, failed = result.counts
                await self._save(
                    keys=[
                        self.keys.job_chunks(result.job_id),
                        self.keys.job(result.job_id),
                        self.keys.tombstone(result.job_id),
                    ],
                    args=[
                        result.chunk,
                        encode_chunk(result),
                        done,
                        failed,
                        self.ttl_seconds,
                        epoch_ms(result.submitted_at),
                    ],
                    client=pipe,
                )
            replies = await pipe.execute()
        return sum(max(0, int(reply)) for reply in replies)

    @guarded
    async def read(self, job_id: str, chunks: Sequence[int]) -> list[StoredChunk | None]:
        """The answers of some chunks (None: not answered yet)."""
        if not chunks:
            return []
        raws: list[Any] = await self.client.hmget(self.keys.job_chunks(job_id), [str(c) for c in chunks])
        return [None if raw is None else decode_chunk(c, raw) for c, raw in zip(chunks, raws, strict=True)]

    @guarded
    async def answered(self, job_id: str) -> set[int]:
        """Chunks with an answer."""
        fields: Any = await self.client.hkeys(self.keys.job_chunks(job_id))
        return {int(f) for f in fields}

    @guarded
    async def mark_sent(self, job_id: str, chunks: Sequence[int]) -> None:
        """Chunks acknowledged by Kafka: a resumed job does not send them again (unless erased since)."""
        if chunks:
            keys = [self.keys.job_sent(job_id), self.keys.job(job_id)]
            await self._mark_sent(keys=keys, args=[self.ttl_seconds, *chunks])

    @guarded
    async def sent(self, job_id: str) -> set[int]:
        """Chunks already handed to Kafka."""
        members: Any = await self.client.smembers(self.keys.job_sent(job_id))
        return {int(m) for m in members}
