"""The model registry as the dashboard shows it: versions, aliases, run metrics and report plots.

MLflow is imported inside the functions (it takes about a second) and every MLflow failure
becomes ``RegistryError``. The registry keeps no history of alias moves, so a version's
"promoted" time is its ``promoted_at`` tag when training sets one, else unknown.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import streamlit as st
from pydantic import BaseModel

from schemas.ratio_study import RATIO_STUDY_ARTIFACT, RATIO_STUDY_PLOT, RatioStudy

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


class RegistryError(Exception):
    pass


class VersionInfo(BaseModel):
    version: str
    aliases: list[str]
    run_id: str | None
    registered_at: datetime
    promoted_at: str | None
    metrics: dict[str, float]
    params: dict[str, str]


def _client(tracking_uri: str) -> Any:
    local = tracking_uri.removeprefix("sqlite:///")
    if local != tracking_uri and not Path(local).exists():
        # MLflow would create an empty database here; say there is none instead.
        raise RegistryError(f"no MLflow database at {local} yet")
    # Fail fast instead of MLflow's default minutes of HTTP retries when a server is down.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@st.cache_data(ttl=30, show_spinner=False)
def versions(tracking_uri: str, model_name: str) -> list[VersionInfo]:
    """Every registered version, newest first, with its run's metrics and parameters."""
    try:
        client = _client(tracking_uri)
        found = client.search_model_versions(f"name = '{model_name}'")
        # Searches leave aliases out on some stores; the registered model always lists them.
        aliases: dict[str, list[str]] = {}
        if found:
            for alias, version in client.get_registered_model(model_name).aliases.items():
                aliases.setdefault(str(version), []).append(alias)
        infos = []
        for mv in sorted(found, key=lambda v: int(v.version), reverse=True):
            run = client.get_run(mv.run_id) if mv.run_id else None
            infos.append(
                VersionInfo(
                    version=str(mv.version),
                    aliases=aliases.get(str(mv.version), []),
                    run_id=mv.run_id,
                    registered_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC),
                    promoted_at=(mv.tags or {}).get("promoted_at"),
                    metrics=dict(run.data.metrics) if run else {},
                    params=dict(run.data.params) if run else {},
                )
            )
        return infos
    except RegistryError:
        raise
    except Exception as exc:  # MLflow raises many types (store, HTTP, sqlalchemy); all mean "not available"
        raise RegistryError(f"MLflow at {tracking_uri} is not available ({type(exc).__name__}: {exc})") from exc


@st.cache_data(ttl=300, show_spinner=False)
def report_plots(tracking_uri: str, run_id: str) -> dict[str, bytes]:
    """The training report's PNG plots of one run (name -> bytes); missing ones are left out."""
    client = _client(tracking_uri)
    plots = {}
    with tempfile.TemporaryDirectory() as folder:
        for path in REPORT_PLOTS:
            try:
                local = client.download_artifacts(run_id, path, folder)
            except Exception:  # noqa: S112 - an older run without this plot is not an error
                continue
            plots[Path(path).stem.replace("_", " ")] = Path(local).read_bytes()
    return plots


@st.cache_data(ttl=300, show_spinner=False)
def ratio_study(tracking_uri: str, run_id: str) -> tuple[RatioStudy | None, bytes | None]:
    """One run's ratio study by segment and its plot; (None, None) for runs that logged none."""
    client = _client(tracking_uri)
    with tempfile.TemporaryDirectory() as folder:
        try:
            study = RatioStudy.model_validate_json(
                Path(client.download_artifacts(run_id, RATIO_STUDY_ARTIFACT, folder)).read_text(encoding="utf-8")
            )
        except Exception:  # an older run without the study is not an error
            return None, None
        try:
            plot: bytes | None = Path(client.download_artifacts(run_id, RATIO_STUDY_PLOT, folder)).read_bytes()
        except Exception:
            plot = None
    return study, plot
