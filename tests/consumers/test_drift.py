"""PSI against the training distribution: the pure computation and the gauge (no services)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from prometheus_client import REGISTRY

from consumers.drift import DriftMonitor
from dataset.sales import load
from drift.psi import NUMERIC_FEATURES, build_reference, categorical_psi, numeric_psi, psi
from schemas.drift import PSI_SIGNIFICANT, DriftReference


@pytest.fixture(scope="module")
def training_frame() -> pd.DataFrame:
    # Fallback for tests only: the serving reference is logged with the model by the training run.
    return load().features


@pytest.fixture(scope="module")
def reference(training_frame: pd.DataFrame) -> DriftReference:
    return build_reference(training_frame)


def test_psi_of_known_shares() -> None:
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.0
    expected = 0.25 * np.log(2) + 0.25 * np.log(1.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(expected)
    assert np.isfinite(psi(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])))


def test_reference_covers_numeric_fields_and_neighborhoods(reference: DriftReference) -> None:
    assert {"gr_liv_area", "year_built", "longitude", "pool_area"} <= set(reference.numeric)
    assert "central_air" not in reference.numeric
    assert "neighborhood" not in reference.numeric
    assert set(NUMERIC_FEATURES) == set(reference.numeric)
    area = reference.numeric["gr_liv_area"]
    assert len(area.edges) == 9
    assert sum(area.frequencies) == pytest.approx(1.0)
    assert area.missing == 0
    assert max(area.frequencies) < 0.12
    assert sum(reference.categorical["neighborhood"].values()) == pytest.approx(1.0)
    assert DriftReference.model_validate_json(reference.model_dump_json()) == reference


def test_training_rows_are_stable_and_a_shift_is_significant(
    reference: DriftReference, training_frame: pd.DataFrame
) -> None:
    sample = training_frame.sample(1000, random_state=3)
    area = reference.numeric["gr_liv_area"]
    assert numeric_psi(area, sample["gr_liv_area"].to_numpy(float)) < 0.1
    bigger = sample["gr_liv_area"].to_numpy(float) * 1.5
    assert numeric_psi(area, bigger) > PSI_SIGNIFICANT
    hoods = reference.categorical["neighborhood"]
    assert categorical_psi(hoods, sample["neighborhood"].to_numpy()) < 0.1
    assert categorical_psi(hoods, np.array(["Old_Town"] * 1000)) > PSI_SIGNIFICANT
    assert categorical_psi(hoods, np.array(["Atlantis"] * 1000)) > PSI_SIGNIFICANT


def test_missing_values_are_left_out(reference: DriftReference, training_frame: pd.DataFrame) -> None:
    longitude = reference.numeric["longitude"]
    present = training_frame["longitude"].sample(400, random_state=4).to_numpy(float)
    assert numeric_psi(longitude, np.append(present, np.full(600, np.nan))) < 0.1
    assert np.isnan(numeric_psi(longitude, np.full(10, np.nan)))
    sparse = build_reference(pd.DataFrame({"x": [1.0, np.nan, 2.0, np.nan]}), numeric=["x"], categorical=[])
    assert sparse.numeric["x"].missing == 0.5
    assert sum(sparse.numeric["x"].frequencies) == pytest.approx(1.0)


def test_window_without_values_reports_no_psi_for_that_feature(
    reference: DriftReference, training_frame: pd.DataFrame
) -> None:
    monitor = DriftMonitor(window=300, min_rows=100)
    rows = training_frame.sample(300, random_state=8).copy()
    rows["longitude"] = np.nan
    monitor.observe(rows)
    scores = monitor.compute(reference)
    assert "longitude" not in scores
    assert scores["gr_liv_area"] < 0.15


def psi_gauge(feature: str) -> float | None:
    return REGISTRY.get_sample_value("valuestream_worker_feature_psi", {"feature": feature})


def test_monitor_window_slides_and_sets_the_gauge(reference: DriftReference, training_frame: pd.DataFrame) -> None:
    monitor = DriftMonitor(window=600, min_rows=200)
    assert monitor.export(reference) == {}  # too few rows to judge
    assert monitor.compute(reference) == {}

    shifted = training_frame.sample(600, random_state=5).copy()
    shifted["gr_liv_area"] = shifted["gr_liv_area"] * 2
    shifted["neighborhood"] = "Old_Town"
    monitor.observe(shifted.iloc[:300])
    monitor.observe(shifted.iloc[300:])
    drifted = monitor.export(reference)
    assert drifted["gr_liv_area"] > PSI_SIGNIFICANT
    assert drifted["neighborhood"] > PSI_SIGNIFICANT
    assert drifted["year_built"] < 0.1
    assert psi_gauge("gr_liv_area") == pytest.approx(drifted["gr_liv_area"])
    assert REGISTRY.get_sample_value("valuestream_worker_drift_window_rows") == 600

    # Normal traffic pushes the shifted rows out of the window.
    monitor.observe(training_frame.sample(600, random_state=6))
    recovered = monitor.export(reference)
    assert recovered["gr_liv_area"] < 0.1
    assert recovered["neighborhood"] < 0.1
    assert psi_gauge("gr_liv_area") == pytest.approx(recovered["gr_liv_area"])
    assert monitor.rows == 600


def test_a_batch_larger_than_the_window_keeps_its_newest_rows(training_frame: pd.DataFrame) -> None:
    monitor = DriftMonitor(window=50, min_rows=10)
    frame = training_frame.iloc[:120]
    monitor.observe(frame)
    reference = build_reference(frame.iloc[-50:])
    scores = monitor.compute(reference)
    assert monitor.rows == 50
    assert scores["gr_liv_area"] == pytest.approx(0.0, abs=1e-9)


def test_many_small_batches_keep_the_newest_rows(training_frame: pd.DataFrame) -> None:
    monitor = DriftMonitor(window=50, min_rows=10)
    frame = training_frame.iloc[:600]
    for start in range(0, len(frame), 3):  # 200 batches of 3: queued, then absorbed in bulk
        monitor.observe(frame.iloc[start : start + 3])
    scores = monitor.compute(build_reference(frame.iloc[-50:]))
    assert monitor.rows == 50
    assert scores["gr_liv_area"] == pytest.approx(0.0, abs=1e-9)
