"""The model registry as the dashboard shows it (read through ``registry``, cached per page view):
versions, aliases, run metrics and report plots. Every MLflow failure is a ``RegistryError``, and a
server that does not answer fails in seconds."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from registry.client import client_for
from registry.versions import guarded, history, run_files
from schemas.ratio_study import RATIO_STUDY_ARTIFACT, RATIO_STUDY_PLOT, RatioStudy
from schemas.registry import VersionInfo

REPORT_PLOTS: tuple[str, ...] = (
    "report/predicted_vs_actual.png",
    "report/residuals_by_neighbourhood.png",
    "report/interval_coverage.png",
)
SHOWN_METRICS: tuple[str, ...] = (
    "cv_rmse",
    "cv_rmse_se",
    "holdout_rmse_log",
    "holdout_median_abs_pct_error",
    "holdout_coverage_80",
    "holdout_coverage_90",
    "nested_test_rmse_log",
    "kaggle_cv_rmse",
    "ratio_study_cod",
    "ratio_study_prd",
    "ratio_study_prb",
    "train_seconds",
)


@st.cache_data(ttl=30, show_spinner=False)
def versions(tracking_uri: str, model_name: str) -> list[VersionInfo]:
    """Every registered version, newest first, with its run's metrics and parameters."""
    return guarded(tracking_uri, lambda: history(client_for(tracking_uri, fail_fast=True, create=False), model_name))


@st.cache_data(ttl=300, show_spinner=False)
def report_plots(tracking_uri: str, run_id: str) -> dict[str, bytes]:
    """The training report's PNG plots of one run (name -> bytes); missing ones are left out."""
    files = run_files(client_for(tracking_uri, fail_fast=True, create=False), run_id, REPORT_PLOTS)
    return {Path(path).stem.replace("_", " "): content for path, content in files.items()}


@st.cache_data(ttl=300, show_spinner=False)
def ratio_study(tracking_uri: str, run_id: str) -> tuple[RatioStudy | None, bytes | None]:
    """One run's ratio study by segment and its plot; (None, None) for runs that logged none."""
    files = run_files(
        client_for(tracking_uri, fail_fast=True, create=False), run_id, (RATIO_STUDY_ARTIFACT, RATIO_STUDY_PLOT)
    )
    if RATIO_STUDY_ARTIFACT not in files:
        return None, None
    return RatioStudy.model_validate_json(files[RATIO_STUDY_ARTIFACT]), files.get(RATIO_STUDY_PLOT)
