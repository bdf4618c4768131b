"""Server-Sent Events of results as they land, from the live feed (XREAD BLOCK), the caller's own only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.deps import JobsDep, StateDep, ViewerDep
from schemas.api import ErrorBody
from state import FeedEntry, StoreUnavailableError, Viewer

router = APIRouter(tags=["predictions"])
BLOCK_MS = 1_000
RETRY_MS = 1_000
STREAM_ID = r"^\d{1,20}-\d{1,20}$"


def wanted(entry: FeedEntry, viewer: Viewer, job_id: str | None) -> bool:
    return viewer.sees(entry.owner) and (job_id is None or entry.job_id == job_id)


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={
        200: {"description": "`event: result`, `data:` a JSON PredictionResult, `id:` the feed position."},
        404: {"model": ErrorBody, "description": "Unknown job, or created by another key."},
        503: {"model": ErrorBody, "description": "The result store is not reachable; see Retry-After."},
    },
)
async def stream(
    request: Request,
    store: StateDep,
    jobs: JobsDep,
    viewer: ViewerDep,
    job_id: Annotated[str | None, Query(max_length=64, description="Only this job's results.")] = None,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000, description="Close after this many events.")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", pattern=STREAM_ID)] = None,
) -> EventSourceResponse:
    """Results as they land (oldest first); resumes after `Last-Event-ID`. A store outage pauses the
    stream (a comment line says so), it does not end it."""
    if job_id is not None:
        await jobs.find(job_id, viewer)
    cursor = last_event_id or await store.feed.end()

    async def events() -> AsyncIterator[ServerSentEvent]:
        nonlocal cursor
        sent = 0
        while not await request.is_disconnected():
            try:
                cursor, entries = await store.feed.read_after(cursor, count=200, block_ms=BLOCK_MS)
            except StoreUnavailableError as exc:
                yield ServerSentEvent(comment=f"paused: {exc}", retry=RETRY_MS)
                continue
            for entry in entries:
                if not wanted(entry, viewer, job_id):
                    continue
                yield ServerSentEvent(data=entry.result, event="result", id=entry.entry_id)
                sent += 1
                if limit is not None and sent >= limit:
                    return

    return EventSourceResponse(events(), ping=15)
