"""Live feed: newest results, throughput, latency, failures and a map, refreshed in place by fragments."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from dashboard import charts, maps, principal
from dashboard.context import store_down
from dashboard.feed import read_feed
from state import StoreUnavailableError

WINDOW_MINUTES = 10
TABLE_ROWS = 200
MAP_POINTS = 1_000
WINDOW_ROWS = 10_000
TABLE_COLUMNS = ["written_at", "request_id", "status", "price", "source", "model_version", "latency_ms", "error_code"]


def recent(window_minutes: int = WINDOW_MINUTES) -> pd.DataFrame | None:
    """Results of the last minutes (window start rounded to 5 s so fragments share the cached read)."""
    since_ms = (int(time.time() * 1000) // 5000 * 5000) - window_minutes * 60_000
    try:
        return read_feed(principal.viewer(), WINDOW_ROWS, since_ms)
    except StoreUnavailableError as exc:
        store_down(exc)
        return None


@st.fragment(run_every=2)
def headline() -> None:
    frame = recent()
    if frame is None:
        return
    if frame.empty:
        st.info(f"No results in the last {WINDOW_MINUTES} minutes: submit a house on 'Value a house'.")
        return
    last_minute = frame["written_at"] >= pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=60)
    failed = frame["status"].eq("failed").mean()
    cols = st.columns(4)
    cols[0].metric(f"results, last {WINDOW_MINUTES} min", f"{len(frame):,}")
    cols[1].metric("throughput, last minute", f"{last_minute.sum() / 60:,.1f} /s")
    cols[2].metric("p95 latency", f"{frame['latency_ms'].quantile(0.95):,.0f} ms")
    cols[3].metric("failed", f"{failed:.1%}")
    left, right = st.columns(2)
    left.plotly_chart(charts.throughput(frame), key="throughput")
    right.plotly_chart(charts.latency(frame), key="latency")


@st.fragment(run_every=2)
def newest_table() -> None:
    frame = recent()
    if frame is None or frame.empty:
        return
    st.subheader("Newest results")
    st.dataframe(
        frame.head(TABLE_ROWS)[TABLE_COLUMNS],
        hide_index=True,
        column_config={
            "price": st.column_config.NumberColumn(format="dollar"),
            "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.0f"),
            "written_at": st.column_config.DatetimeColumn("written", format="HH:mm:ss"),
        },
    )


@st.fragment(run_every=5)
def houses_map() -> None:
    frame = recent()
    if frame is None or frame.empty:
        return
    st.subheader("Houses being valued")
    st.caption("Houses sent without coordinates are drawn at their neighbourhood's centre.")
    shown = frame.head(MAP_POINTS)
    st.pydeck_chart(maps.points(shown, "longitude", "latitude", "{price_text} · {neighborhood}"), height=360)


def main() -> None:
    st.title("Live feed")
    headline()
    newest_table()
    houses_map()
