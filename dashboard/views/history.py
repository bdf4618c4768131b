"""History: search and filter past predictions, look one up by id, download the selection."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import principal
from dashboard.context import settings, store_down
from dashboard.feed import find_result, read_feed
from state import StoreUnavailableError

SHOWN_ROWS = 1_000


def filters(frame: pd.DataFrame) -> pd.DataFrame:
    """Text search on ids, then status, source, model version and a price range."""
    search = st.text_input("Search request or job id", key="history_search").strip()
    cols = st.columns(3)
    statuses = cols[0].multiselect("Status", sorted(frame["status"].dropna().unique()), key="history_status")
    sources = cols[1].multiselect("Source", sorted(frame["source"].dropna().unique()), key="history_source")
    models = cols[2].multiselect("Model version", sorted(frame["model_version"].dropna().unique()), key="history_model")
    mask = pd.Series(True, index=frame.index)
    if search:
        mask &= frame["request_id"].str.contains(search, regex=False) | frame["job_id"].fillna("").str.contains(
            search, regex=False
        )
    if statuses:
        mask &= frame["status"].isin(statuses)
    if sources:
        mask &= frame["source"].isin(sources)
    if models:
        mask &= frame["model_version"].isin(models)
    prices = frame["price"].dropna()
    if not prices.empty and prices.min() < prices.max():
        low, high = st.slider(
            "Price ($)", float(prices.min()), float(prices.max()), (float(prices.min()), float(prices.max()))
        )
        mask &= frame["price"].between(low, high) | frame["price"].isna()
    return frame[mask]


def lookup(request_id: str) -> None:
    """An exact id also finds a record that has left the feed (until it expires)."""
    result = find_result(principal.viewer(), request_id)
    if result is None:
        st.info(f"No record {request_id!r} (unknown or expired).")
    else:
        st.json(result.model_dump(mode="json"), expanded=False)


def main() -> None:
    st.title("History")
    conf = settings()
    try:
        frame = read_feed(principal.viewer(), conf.feed_maxlen)
        if frame.empty:
            st.info("No results yet.")
            return
        selected = filters(frame)
        search = st.session_state.get("history_search", "").strip()
        if search and selected.empty:
            lookup(search)
    except StoreUnavailableError as exc:
        store_down(exc)
        return
    st.caption(
        f"{len(selected):,} of {len(frame):,} results match; the newest {min(len(selected), SHOWN_ROWS):,} shown."
    )
    st.dataframe(
        selected.head(SHOWN_ROWS),
        hide_index=True,
        column_config={"price": st.column_config.NumberColumn(format="dollar")},
    )
    st.download_button(
        "Download CSV",
        lambda: selected.to_csv(index=False).encode(),
        file_name="predictions.csv",
        mime="text/csv",
        on_click="ignore",
    )
