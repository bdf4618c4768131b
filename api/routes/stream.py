"""Server-Sent Events of results as they land, from the Redis feed stream (XREAD BLOCK)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.deps import OwnerDep, RecordsDep, StoreDep
from api.errors import ApiError
from api.records import Records
from infra.store import ResultStore
from schemas import PredictionResult
from schemas.api import ErrorBody

router = APIRouter(tags=["predictions"])
BLOCK_MS = 1_000
STREAM_ID = r"^\d{1,20}-\d{1,20}$"


class Feed:
    """Reads the feed after a cursor and keeps what the caller may see."""

    def __init__(self, store: ResultStore, records: Records, owner: str, job_id: str | None) -> None:
        self.store = store
        self.records = records
        self.owner = owner
        self.job_id = job_id
        self._job_owners: dict[str, str | None] = {}

    async def start(self, last_event_id: str | None) -> str:
        if last_event_id:
            return last_event_id
        newest = await self.store.client.xrevrange(self.store.keys.feed, count=1)
        return str(newest[0][0]) if newest else "0-0"

    async def allowed(self, result: PredictionResult) -> bool:
        if self.job_id is not None:
            return result.job_id == self.job_id
        if result.job_id is None:
            return self.records.visible(await self.records.request_owner(result.request_id, result), self.owner)
        if result.job_id not in self._job_owners:
            self._job_owners[result.job_id] = await self.records.job_owner(result.job_id)
        return self.records.visible(self._job_owners[result.job_id], self.owner)

    async def read(self, cursor: str) -> tuple[str, list[tuple[str, PredictionResult]]]:
        reply: Any = await self.store.client.xread({self.store.keys.feed: cursor}, count=200, block=BLOCK_MS)
        out = []
        for _, entries in reply or []:
            for entry_id, fields in entries:
                cursor = str(entry_id)
                try:
                    result = PredictionResult.model_validate_json(fields["result"])
                except (KeyError, ValidationError):
                    continue
                if await self.allowed(result):
                    out.append((cursor, result))
        return cursor, out


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={
        200: {"description": "`event: result`, `data:` a JSON PredictionResult, `id:` the feed position."},
        404: {"model": ErrorBody, "description": "Unknown job, or created by another key."},
    },
)
async def stream(
    request: Request,
    store: StoreDep,
    records: RecordsDep,
    owner: OwnerDep,
    job_id: Annotated[str | None, Query(max_length=64, description="Only this job's results.")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000, description="Close after this many events.")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", pattern=STREAM_ID)] = None,
) -> EventSourceResponse:
    """Results as they land (newest first seen, oldest sent first); resumes after `Last-Event-ID`."""
    if job_id is not None:
        counters = await store.job_counters(job_id)
        if "total" not in counters or not records.visible(counters.get("owner"), owner):
            raise ApiError(404, "not_found", f"no job {job_id}")
    feed = Feed(store, records, owner, job_id)
    cursor = await feed.start(last_event_id)

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal cursor
        sent = 0
        while not await request.is_disconnected():
            cursor, batch = await feed.read(cursor)
            for entry_id, result in batch:
                yield ServerSentEvent(data=result.model_dump_json(), event="result", id=entry_id)
                sent += 1
                if limit is not None and sent >= limit:
                    return

    return EventSourceResponse(events(), ping=15)
