from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dataset.sales import Dataset
from infra.settings import Settings
from registry.client import configure
from registry.contract import feature_contract
from registry.tags import VersionTag
from registry.versions import champion_cv_rmse, champion_exists
from schemas import VALUATION_COLUMNS, Comparable, Contribution
from training.pipeline import TrainingOutcome

REPO = Path(__file__).resolve().parents[2]

LOAD_AND_PREDICT = """
import json, sys
import pandas as pd
from infra.settings import Settings
from registry.loading import load_pyfunc
from schemas import PropertyFeatures
model = load_pyfunc(Settings(mlflow_tracking_uri=sys.argv[1]))
rows = [
    PropertyFeatures(gr_liv_area=1500, year_built=1990, neighborhood="Gilbert"),
    PropertyFeatures(**PropertyFeatures.model_json_schema()["examples"][0]),
    PropertyFeatures(gr_liv_area=2400, year_built=2006, neighborhood="Northridge_Heights",
                     year_remod_add=2007, longitude=-93.6572, latitude=42.0597, sale_condition="Partial"),
]
out = model.predict(pd.DataFrame([r.model_dump() for r in rows]))
print(json.dumps({"columns": list(out.columns), "rows": out.to_dict(orient="records")}))
"""


def test_champion_loads_in_a_fresh_process(settings: Settings, trained: TrainingOutcome) -> None:
    assert trained.promoted
    assert champion_exists(settings)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, settings.tracking_uri],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=True,
    )
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert tuple(answer["columns"]) == VALUATION_COLUMNS
    assert len(answer["rows"]) == 3
    for row in answer["rows"]:
        assert row["lower_90"] <= row["lower_80"] < row["price"] < row["upper_80"] <= row["upper_90"]
        assert 20_000 < row["price"] < 1_000_000
        assert len(row["contributions"]) == 6  # the five largest, then "other features"
        assert len(row["comparables"]) == 5
        for item in row["contributions"]:
            Contribution.model_validate(item)
        for item in row["comparables"]:
            Comparable.model_validate(item)
            assert item["sold"].endswith("-01")


def test_report_and_metrics_are_written(trained: TrainingOutcome) -> None:
    report = trained.report_dir / "report.md"
    assert report.is_file()
    assert {p.name for p in trained.report_dir.glob("*.png")} == {
        "predicted_vs_actual.png",
        "residuals_by_neighbourhood.png",
        "interval_coverage.png",
        "ratio_study.png",
    }
    for key in (
        "cv_rmse",
        "holdout_rmse_log",
        "holdout_coverage_90",
        "holdout_median_abs_pct_error",
        "nested_test_rmse_log",
        "kaggle_cv_rmse",
        "ratio_study_cod",
    ):
        assert key in trained.metrics


def test_the_report_checks_every_year_ahead_and_pools_them(trained: TrainingOutcome) -> None:
    metrics, years = trained.metrics, (2007, 2008, 2009, 2010)
    assert metrics["year_ahead_2010_coverage_90"] == metrics["holdout_coverage_90"]
    assert metrics["year_ahead_2010_rmse_log"] == metrics["holdout_rmse_log"]
    sales = np.array([metrics[f"year_ahead_{year}_sales"] for year in years])
    assert metrics["year_ahead_pooled_sales"] == sales.sum()
    for level in (80, 90):
        per_year = [metrics[f"year_ahead_{year}_coverage_{level}"] for year in years]
        assert metrics[f"year_ahead_pooled_coverage_{level}"] == pytest.approx(np.average(per_year, weights=sales))
    report = (trained.report_dir / "report.md").read_text()
    assert "| 2007 | 2006 | " in report
    assert "| 2010 | 2006 to 2009 | 314 | " in report
    assert f"| pooled | all of the above | {sales.sum():.0f} | " in report


def test_worse_run_does_not_move_the_alias(settings: Settings, trained: TrainingOutcome, raw_csv: Path) -> None:
    env = {
        **os.environ,
        "VALUESTREAM_STATE_DIR": str(settings.state_dir),
        "PYTHONWARNINGS": "ignore",
    }
    subprocess.run(
        [sys.executable, "-m", "training", "--quick", "--data", str(raw_csv)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    client = configure(settings)
    versions = client.search_model_versions(f"name='{settings.model_name}'")
    assert len(versions) >= 2
    champion = client.get_model_version_by_alias(settings.model_name, settings.model_alias)
    assert str(champion.version) == trained.version
    assert champion_cv_rmse(settings) == round(trained.metrics["cv_rmse"], 6)
    latest = max(versions, key=lambda v: int(v.version))
    assert VersionTag.PROMOTED_AT not in latest.tags
    assert "cv_rmse" in latest.tags


def test_the_run_logs_the_drift_reference_the_workers_read(
    settings: Settings, trained: TrainingOutcome, dataset: Dataset
) -> None:
    from consumers.model import ModelHolder

    holder = ModelHolder(settings)
    assert holder.refresh()
    assert holder.current.ref.version == trained.version
    reference = holder.current.drift_reference
    assert reference is not None
    assert reference.rows == len(dataset)
    assert {"gr_liv_area", "year_built", "longitude"} <= set(reference.numeric)
    assert sum(reference.categorical["neighborhood"].values()) == pytest.approx(1.0)
    assert sum(reference.numeric["gr_liv_area"].frequencies) == pytest.approx(1.0)


def test_the_version_carries_its_figures_and_promotion_time(settings: Settings, trained: TrainingOutcome) -> None:
    client = configure(settings)
    tags = client.get_model_version(settings.model_name, trained.version).tags
    promoted_at = datetime.fromisoformat(tags[VersionTag.PROMOTED_AT])
    assert promoted_at.tzinfo is not None
    assert timedelta(0) <= datetime.now(UTC) - promoted_at < timedelta(hours=1)
    assert float(tags["cv_rmse"]) == pytest.approx(trained.metrics["cv_rmse"], abs=1e-6)
    assert float(tags["holdout_rmse"]) == pytest.approx(trained.metrics["holdout_rmse_log"], abs=1e-6)
    assert float(tags["holdout_mape"]) == pytest.approx(trained.metrics["holdout_mean_abs_pct_error"], abs=1e-6)
    assert 0 < float(tags["holdout_mdape"]) < float(tags["holdout_mape"])


def _cli(monkeypatch: pytest.MonkeyPatch, state_dir: Path, *args: str) -> tuple[int, list[bool]]:
    """Run the CLI in-process with ``train`` replaced by a recorder; returns (exit code, calls)."""
    import training.pipeline
    from infra.settings import get_settings
    from training.__main__ import app

    calls: list[bool] = []

    def record(settings: Settings, quick: bool = False, **_: object) -> TrainingOutcome:
        calls.append(quick)
        return TrainingOutcome(
            run_id="r",
            version="1",
            promoted=True,
            selected="huber_linear",
            metrics={"cv_rmse": 0.1},
            report_dir=state_dir,
        )

    monkeypatch.setattr(training.pipeline, "train", record)
    monkeypatch.setenv("VALUESTREAM_STATE_DIR", str(state_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()
    return result.exit_code, calls


def test_if_no_champion_trains_only_when_there_is_none(
    settings: Settings, trained: TrainingOutcome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _cli(monkeypatch, settings.state_dir, "--if-no-champion", "--quick") == (0, [])
    assert _cli(monkeypatch, settings.state_dir, "--quick") == (0, [True])
    assert _cli(monkeypatch, tmp_path / "empty", "--if-no-champion", "--quick") == (0, [True])


def test_a_champion_for_another_feature_contract_counts_as_none(settings: Settings, trained: TrainingOutcome) -> None:
    client = configure(settings)
    assert (
        client.get_model_version(settings.model_name, trained.version).tags[VersionTag.FEATURE_CONTRACT]
        == feature_contract()
    )
    client.set_model_version_tag(settings.model_name, trained.version, VersionTag.FEATURE_CONTRACT, "older-fields")
    try:
        assert not champion_exists(settings)
        assert champion_cv_rmse(settings) is None  # so the next run is promoted whatever its figures
    finally:
        client.set_model_version_tag(
            settings.model_name, trained.version, VersionTag.FEATURE_CONTRACT, feature_contract()
        )
    assert champion_exists(settings)
