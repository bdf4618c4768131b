"""The live feed: a Redis stream of the newest results, each entry tagged with its request, job and owner.

Entries are appended by ``Predictions.save_results`` (in the same script as the record), so
the feed holds at most ``feed_maxlen`` entries and none older than the retention period;
readers also ignore anything older, in case no write has trimmed it yet. Entry ids are the
write times in milliseconds. A reader sees only the entries its viewer may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from state.clock import now_ms
from state.errors import guarded
from state.keys import Keys
from state.visibility import Viewer

SCAN_CHUNK = 1_000


@dataclass(frozen=True, slots=True)
class FeedEntry:
    entry_id: str
    request_id: str
    job_id: str | None
    owner: str | None
    result: str  # the JSON ``PredictionResult`` exactly as the worker stored it

    @property
    def written_ms(self) -> int:
        return int(self.entry_id.split("-", 1)[0])

    @classmethod
    def of(cls, entry_id: Any, fields: dict[str, str]) -> FeedEntry:
        return cls(
            entry_id=str(entry_id),
            request_id=fields.get("id", ""),
            job_id=fields.get("job") or None,
            owner=fields.get("owner") or None,
            result=fields.get("result", ""),
        )


class Feed:
    def __init__(self, client: Redis, keys: Keys, ttl_seconds: int) -> None:
        self.client = client
        self.keys = keys
        self.ttl_seconds = ttl_seconds

    def _oldest_kept(self) -> int:
        return now_ms() - self.ttl_seconds * 1000

    @guarded
    async def end(self) -> str:
        """The id of the newest entry ("0-0" when empty): reading after it sees only what comes next."""
        newest: Any = await self.client.xrevrange(self.keys.feed, count=1)
        return str(newest[0][0]) if newest else "0-0"

    @guarded
    async def read_after(self, cursor: str, count: int, block_ms: int) -> tuple[str, list[FeedEntry]]:
        """Entries after ``cursor`` (waiting up to ``block_ms`` for one), and the new cursor."""
        reply: Any = await self.client.xread({self.keys.feed: cursor}, count=count, block=block_ms)
        entries = []
        oldest = self._oldest_kept()
        for _, items in reply or []:
            for entry_id, fields in items:
                cursor = str(entry_id)
                entry = FeedEntry.of(entry_id, fields)
                if entry.written_ms >= oldest:
                    entries.append(entry)
        return cursor, entries

    @guarded
    async def recent(self, viewer: Viewer, count: int, since_ms: int = 0) -> list[FeedEntry]:
        """The viewer's newest ``count`` entries written at or after ``since_ms``, newest first."""
        start = max(since_ms, self._oldest_kept())
        found: list[FeedEntry] = []
        upper = "+"
        while len(found) < count:
            chunk: Any = await self.client.xrevrange(self.keys.feed, max=upper, min=str(start), count=SCAN_CHUNK)
            if not chunk:
                break
            for entry_id, fields in chunk:
                entry = FeedEntry.of(entry_id, fields)
                if viewer.sees(entry.owner):
                    found.append(entry)
            if len(chunk) < SCAN_CHUNK:
                break
            upper = "(" + str(chunk[-1][0])
        return found[:count]

    @guarded
    async def forget(self, *, request_id: str | None = None, job_id: str | None = None) -> int:
        """Delete every entry of a request or of a job's rows; returns how many."""
        removed = 0
        lower = "-"
        while True:
            chunk: Any = await self.client.xrange(self.keys.feed, min=lower, max="+", count=SCAN_CHUNK)
            doomed = [
                entry_id
                for entry_id, fields in chunk
                if (request_id is not None and fields.get("id") == request_id)
                or (job_id is not None and fields.get("job") == job_id)
            ]
            if doomed:
                removed += int(await self.client.xdel(self.keys.feed, *doomed))
            if len(chunk) < SCAN_CHUNK:
                return removed
            lower = "(" + str(chunk[-1][0])
