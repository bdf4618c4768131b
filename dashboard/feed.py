"""Results as flat table rows: the viewer's part of the live feed, and single records by id.

The feed (``state.feed``, capped at ``feed_maxlen`` and the retention period) is the dashboard's
window on recent results; its entry ids are the write times in milliseconds, so throughput needs
no parsing. A result's ``subject`` says where the valued house is; a house sent without
coordinates is drawn at its neighbourhood's centre.
"""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd
import streamlit as st

from dashboard.context import run, state
from dashboard.reference import neighbourhoods
from schemas.messages import PredictionResult
from state import FeedEntry, Viewer

COLUMNS: tuple[str, ...] = (
    "written_at",
    "request_id",
    "job_id",
    "source",
    "status",
    "price",
    "lower_80",
    "upper_80",
    "lower_90",
    "upper_90",
    "model_version",
    "submitted_at",
    "latency_ms",
    "queue_ms",
    "inference_ms",
    "error_code",
    "neighborhood",
    "longitude",
    "latitude",
    "ppsf",
)
NUMERIC_COLUMNS: tuple[str, ...] = (
    "price",
    "lower_80",
    "upper_80",
    "lower_90",
    "upper_90",
    "queue_ms",
    "inference_ms",
    "longitude",
    "latitude",
    "ppsf",
)


def flatten(raw: str) -> dict[str, Any]:
    """One JSON ``PredictionResult`` as a flat row (``orjson``: ~10x faster than validating 10k models)."""
    result = orjson.loads(raw)
    timings = result.get("timings") or {}
    row: dict[str, Any] = {
        "request_id": result["request_id"],
        "job_id": result.get("job_id"),
        "source": result.get("source"),
        "status": result["status"],
        "price": result.get("price"),
        "model_version": (result.get("model") or {}).get("version"),
        "submitted_at": timings.get("submitted_at"),
        "scored_at": timings.get("scored_at"),
        "queue_ms": timings.get("queue_ms"),
        "inference_ms": timings.get("inference_ms"),
        "error_code": (result.get("error") or {}).get("code"),
    }
    for interval in result.get("intervals") or ():
        level = round(interval["level"] * 100)
        row[f"lower_{level}"] = interval["lower"]
        row[f"upper_{level}"] = interval["upper"]
    subject = result.get("subject")
    if subject:
        row["neighborhood"] = subject["neighborhood"]
        row["longitude"] = subject.get("longitude")
        row["latitude"] = subject.get("latitude")
        if row["price"] is not None:
            row["ppsf"] = row["price"] / subject["gr_liv_area"]
    return row


def place_at_centres(frame: pd.DataFrame, centres: pd.DataFrame) -> pd.DataFrame:
    """Fill missing coordinates with the neighbourhood's centre (houses sent without a location)."""
    lookup = centres.set_index("neighborhood")
    missing = frame["longitude"].isna() & frame["neighborhood"].isin(lookup.index)
    frame.loc[missing, "longitude"] = frame.loc[missing, "neighborhood"].map(lookup["longitude"])
    frame.loc[missing, "latitude"] = frame.loc[missing, "neighborhood"].map(lookup["latitude"])
    return frame


def to_frame(entries: list[FeedEntry]) -> pd.DataFrame:
    """Feed entries (newest first) as a table with ``COLUMNS``; times are UTC timestamps."""
    rows = []
    for entry in entries:
        row = flatten(entry.result)
        row["written_at"] = entry.written_ms
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "scored_at"])
    frame["written_at"] = pd.to_datetime(frame["written_at"], unit="ms", utc=True)
    frame["submitted_at"] = pd.to_datetime(frame["submitted_at"], utc=True, format="ISO8601")
    scored = pd.to_datetime(frame["scored_at"], utc=True, format="ISO8601")
    frame["latency_ms"] = (scored - frame["submitted_at"]).dt.total_seconds() * 1000.0
    frame[list(NUMERIC_COLUMNS)] = frame[list(NUMERIC_COLUMNS)].apply(pd.to_numeric)
    return place_at_centres(frame.loc[:, list(COLUMNS)], neighbourhoods())


@st.cache_data(ttl=2, show_spinner=False, max_entries=16)
def _read_feed(owner: str, keys_enabled: bool, operator: bool, count: int, since_ms: int) -> pd.DataFrame:
    entries = run(state().feed.recent(Viewer(owner, keys_enabled, operator), count, since_ms))
    return to_frame(entries)


def read_feed(viewer: Viewer, count: int, since_ms: int = 0) -> pd.DataFrame:
    """The viewer's newest ``count`` results written at or after ``since_ms`` (epoch ms), newest first
    (cached per viewer for two seconds, so fragments refreshing together share one read)."""
    return _read_feed(viewer.owner, viewer.keys_enabled, viewer.operator, count, since_ms)


async def _visible_result(viewer: Viewer, request_id: str) -> PredictionResult | None:
    predictions = state().predictions
    result = await predictions.get(request_id)
    if result is None or not viewer.sees(await predictions.owner(request_id, result)):
        return None
    return result


def find_result(viewer: Viewer, request_id: str) -> PredictionResult | None:
    """One request's record if the viewer may see it, also when it has left the feed (until it expires)."""
    return run(_visible_result(viewer, request_id))
