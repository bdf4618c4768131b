"""Analytics over the results in the feed: prices, $/sq ft by neighbourhood, sources, model versions."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, principal
from dashboard.context import settings, store_down
from dashboard.feed import read_feed
from state import StoreUnavailableError


def versions_table(frame: pd.DataFrame) -> pd.DataFrame:
    return (
        frame.dropna(subset=["model_version"])
        .groupby("model_version")
        .agg(results=("request_id", "size"), first_seen=("written_at", "min"), last_seen=("written_at", "max"))
        .sort_values("last_seen", ascending=False)
        .reset_index()
    )


def main() -> None:
    st.title("Analytics")
    conf = settings()
    try:
        frame = read_feed(principal.viewer(), conf.feed_maxlen)
    except StoreUnavailableError as exc:
        store_down(exc)
        return
    if frame.empty:
        st.info("No results yet.")
        return
    st.caption(f"Over the {len(frame):,} newest results (the feed keeps {conf.feed_maxlen:,}).")
    done = frame[frame["status"] == "done"]
    left, right = st.columns(2)
    left.plotly_chart(charts.price_distribution(done), key="prices")
    right.plotly_chart(charts.counts(frame, "source", "Predictions by source"), key="sources")
    st.plotly_chart(charts.ppsf_by_neighbourhood(done), key="ppsf")
    st.subheader("Model versions in use")
    left, right = st.columns(2)
    left.plotly_chart(charts.counts(frame, "model_version", "Results by model version"), key="versions")
    right.dataframe(versions_table(frame), hide_index=True)
