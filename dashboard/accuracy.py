"""Accuracy in production: the rolling figures kept from observed sale prices (``POST /feedback``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.context import run, state
from schemas.feedback import AccuracyFigures


@st.cache_data(ttl=10, show_spinner=False)
def feedback_figures() -> pd.DataFrame:
    """One row per neighbourhood and model version that received feedback, most feedback first."""
    rows = [figures.model_dump() for figures in run(state().feedback.figures())]
    return pd.DataFrame(rows, columns=list(AccuracyFigures.model_fields))
