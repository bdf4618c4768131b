"""Accuracy in production: the rolling figures kept from observed sale prices (``POST /feedback``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.context import redis_client
from schemas.feedback import AccuracyFigures
from schemas.rest_keys import RestKeys


@st.cache_data(ttl=10, show_spinner=False)
def feedback_figures(redis_url: str, prefix: str) -> pd.DataFrame:
    """One row per neighbourhood and model version that received feedback, most feedback first."""
    client = redis_client(redis_url)
    keys = RestKeys(prefix)
    totals: dict[str, str] = client.hgetall(keys.feedback_totals)  # type: ignore[assignment]
    segments = sorted(totals)
    with client.pipeline(transaction=False) as pipe:
        for segment in segments:
            pipe.lrange(keys.feedback_window(*segment.split("|", 1)), 0, -1)
        windows: list[list[str]] = pipe.execute()
    rows = []
    for segment, window in zip(segments, windows, strict=True):
        neighborhood, version = segment.split("|", 1)
        rows.append(AccuracyFigures.from_window(neighborhood, version, window, int(totals[segment])).model_dump())
    frame = pd.DataFrame(rows, columns=list(AccuracyFigures.model_fields))
    return frame.sort_values("total", ascending=False, ignore_index=True)
