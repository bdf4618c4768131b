"""A model's intervals start from what its own backtest says about each segment (``training.warm_start``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc import PyFuncModel

from dataset.sales import Dataset
from infra.recalibration import Adjustments, missed_by, segment_of, start_of
from infra.settings import Settings
from schemas import Interval
from training.candidates import candidates
from training.pipeline import TrainingOutcome
from training.recipe import build
from training.warm_start import FedBack, settle

EDGES = (140_000.0, 195_000.0)


def backtest(rng: np.random.Generator) -> list[FedBack]:
    """Low-grade sales scattered half as wide again as the model's ±10 % (log) 90 % intervals assume,
    mid-grade sales about two thirds as wide."""
    sales = []
    for grade, spread in (("Below_Average", 0.09), ("Average", 0.04)):
        segment = segment_of("Normal", grade, 160_000.0, EDGES)
        for error in rng.normal(0.0, spread, 600):
            intervals = tuple(
                Interval(level=level, lower=160_000.0 * math.exp(-r), upper=160_000.0 * math.exp(r))
                for level, r in ((0.8, 0.077), (0.9, 0.1))
            )
            sales.append(FedBack(160_000.0, intervals, segment, 160_000.0 * math.exp(error), 2008))
    order = rng.permutation(len(sales))
    return [sales[i] for i in order]


def coverage_by_grade(sales: list[FedBack], start: Adjustments) -> dict[str, float]:
    covered: dict[str, list[bool]] = {}
    for sale in sales:
        served = start.apply(sale.price, sale.intervals, sale.segment)
        covered.setdefault(sale.segment.grade, []).append(not missed_by(served, sale.sale_price)[0.9])
    return {grade: float(np.mean(hits)) for grade, hits in covered.items()}


def test_settling_on_a_backtest_brings_every_band_to_its_level() -> None:
    sales = backtest(np.random.default_rng(3))
    before = coverage_by_grade(sales, Adjustments())
    assert before["low"] < 0.8
    assert before["mid"] > 0.98
    start = settle(sales)
    assert start.log_factors["90|grade|low"] > 0.15
    assert start.log_factors["90|grade|mid"] < -0.15
    after = coverage_by_grade(sales, start)
    assert after == pytest.approx({"low": 0.9, "mid": 0.9}, abs=0.03)


def test_no_backtest_no_start() -> None:
    assert settle([]).log_factors == {}


def test_the_model_applies_its_start_to_its_own_intervals(dataset: Dataset) -> None:
    built = build(dataset, candidates(quick=True, use_tf=False), n_folds=2, n_repeats=1, progress=False)
    plain = built.valuer(dataset)  # no start: as a model registered before the start existed
    houses = dataset.features.iloc[:400].copy()
    low = houses["overall_qual"].isin(["Very_Poor", "Poor", "Fair", "Below_Average"]).to_numpy()
    assert 0 < low.sum() < len(houses)
    started = plain.with_start(Adjustments({"90|grade|low": math.log(2.0)}), EDGES)
    given, served = plain.predict_frame(houses), started.predict_frame(houses)

    def log_radius(answers: pd.DataFrame, pct: int) -> np.ndarray:
        radius: np.ndarray = np.log(answers[f"upper_{pct}"].to_numpy(float) / answers["price"].to_numpy(float))
        return radius

    pd.testing.assert_series_equal(given["price"], served["price"])
    np.testing.assert_allclose(log_radius(served, 90)[low], 2.0 * log_radius(given, 90)[low], rtol=1e-9)
    np.testing.assert_allclose(log_radius(served, 90)[~low], log_radius(given, 90)[~low], rtol=1e-12)
    np.testing.assert_allclose(log_radius(served, 80), log_radius(given, 80), rtol=1e-12)  # no 80 % term
    np.testing.assert_allclose(served["fsd"], given["fsd"])


def test_the_registered_model_carries_its_runs_start(trained: TrainingOutcome, champion: PyFuncModel) -> None:
    """Training settles the start on its rolling origins' valuations; the pyfunc applies it and the run's
    metrics record it (``GET /model`` shows it from there)."""
    valuer = champion.unwrap_python_model().valuer  # type: ignore[no-untyped-call]
    assert valuer.start.log_factors, "the quick training runs the year-ahead checks, so it has a backtest"
    assert start_of(trained.metrics) == pytest.approx(valuer.start.log_factors)
    assert valuer.price_edges == Settings().calibration_price_edges
