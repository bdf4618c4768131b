"""The run report: markdown tables of every candidate, the nested rolling origins, the Kaggle-protocol
figure and the ratio study by segment, plus four PNG plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from schemas.ratio_study import Figure, RatioStudy, SegmentRatioStudy
from training.evaluate import CVResult

VERDICT_COLOURS = {"pass": "tab:green", "uncertain": "tab:orange", "fail": "tab:red", "too_few_sales": "tab:gray"}


def _plot_predicted(path: Path, price: np.ndarray, predicted: np.ndarray) -> None:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(price, predicted, s=6, alpha=0.5)
    lo, hi = float(min(price.min(), predicted.min())), float(max(price.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1)
    ax.set(xscale="log", yscale="log", xlabel="sale price ($)", ylabel="predicted ($)", title="2010 holdout")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_neighbourhoods(path: Path, neighborhood: np.ndarray, residual: np.ndarray) -> None:
    frame = pd.DataFrame({"n": neighborhood, "r": residual})
    order = frame.groupby("n")["r"].median().sort_values().index
    fig, ax = plt.subplots(figsize=(7, 8))
    ax.boxplot([frame.loc[frame["n"] == n, "r"].to_numpy() for n in order], vert=False, showfliers=False)
    ax.set_yticks(range(1, len(order) + 1), list(order), fontsize=7)
    ax.axvline(0, color="black", linewidth=1)
    ax.set(xlabel="out-of-fold residual, ln(price)", title="Residuals by neighbourhood")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _interval_levels(year_ahead: dict[str, dict[str, float]]) -> list[str]:
    """The interval levels ("80%", "90%") the year-ahead rows carry coverage for."""
    return [key for key in next(iter(year_ahead.values()), {}) if key.endswith("%")]


def _plot_coverage(path: Path, year_ahead: dict[str, dict[str, float]]) -> None:
    """Coverage of each interval level in each year predicted from the years before it."""
    rows, levels = list(year_ahead), _interval_levels(year_ahead)
    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.8 / max(len(levels), 1)
    for i, level in enumerate(levels):
        x = np.arange(len(rows)) + (i - (len(levels) - 1) / 2) * width
        ax.bar(x, [year_ahead[r][level] for r in rows], width, label=f"{level} interval")
        ax.axhline(float(level.rstrip("%")), color="black", linewidth=1, linestyle="--")
    ax.set_xticks(range(len(rows)), rows)
    ax.set(ylim=(50, 100), ylabel="coverage (%)", title="Interval coverage, each year predicted from the earlier ones")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=max(len(levels), 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_ratio_study(path: Path, study: RatioStudy) -> None:
    """COD and PRB by neighbourhood against the standard's limits, and the level by value decile."""
    by = {d: [s for s in study.segments if s.dimension == d] for d in ("neighbourhood", "price_decile")}
    neighbourhoods = sorted(by["neighbourhood"], key=lambda s: s.cod.value)
    fig, (left, middle, right) = plt.subplots(
        1, 3, figsize=(14, 7), gridspec_kw={"width_ratios": [3, 2, 2]}, sharey=False
    )
    if neighbourhoods:
        y = np.arange(len(neighbourhoods))
        left.barh(
            y, [s.cod.value for s in neighbourhoods], color=[VERDICT_COLOURS[s.cod.verdict] for s in neighbourhoods]
        )
        low = [s.cod.value - (s.cod.ci_low if s.cod.ci_low is not None else s.cod.value) for s in neighbourhoods]
        high = [(s.cod.ci_high if s.cod.ci_high is not None else s.cod.value) - s.cod.value for s in neighbourhoods]
        left.errorbar([s.cod.value for s in neighbourhoods], y, xerr=[low, high], fmt="none", color="black", lw=0.8)
        left.axvline(neighbourhoods[0].cod_limit, color="black", linestyle="--", linewidth=1)
        left.set_yticks(y, [f"{s.segment} ({s.sales})" for s in neighbourhoods], fontsize=7)
        judged = [(i, s.prb) for i, s in enumerate(neighbourhoods) if s.prb is not None]
        for i, prb in judged:
            middle.errorbar(
                prb.value,
                i,
                xerr=[
                    [prb.value - (prb.ci_low if prb.ci_low is not None else prb.value)],
                    [(prb.ci_high if prb.ci_high is not None else prb.value) - prb.value],
                ],
                fmt="o",
                color=VERDICT_COLOURS[prb.verdict],
                ecolor="black",
                elinewidth=0.8,
            )
        middle.axvspan(-0.05, 0.05, color="tab:green", alpha=0.1)
        middle.set_yticks(y, [])
        middle.set_ylim(left.get_ylim())
    left.set(xlabel="COD (95 % bootstrap interval); dashed: IAAO ceiling", title="COD by neighbourhood")
    middle.set(xlabel="PRB; shaded: IAAO range ±0.05", title="PRB by neighbourhood")
    deciles = by["price_decile"]
    if deciles:
        x = np.arange(len(deciles))
        right.scatter(x, [s.median_ratio for s in deciles], color=[VERDICT_COLOURS[s.cod.verdict] for s in deciles])
        right.errorbar(
            x,
            [s.median_ratio for s in deciles],
            yerr=[
                [s.median_ratio - (s.level.ci_low or s.median_ratio) for s in deciles],
                [(s.level.ci_high or s.median_ratio) - s.median_ratio for s in deciles],
            ],
            fmt="none",
            color="black",
            lw=0.8,
        )
        right.axhline(1.0, color="black", linewidth=1)
        right.set_xticks(x, [s.segment for s in deciles])
    right.set(xlabel="decile of the predicted value", ylabel="median predicted / sale", title="Level by value decile")
    fig.suptitle(f"Ratio study: {study.source} ({study.sales} sales); colour = verdict", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _shown(figure: Figure | None, spec: str) -> str:
    return "n/a" if figure is None else f"{figure.text(spec)} {figure.verdict.replace('_', ' ')}"


def _segment_row(s: SegmentRatioStudy) -> str:
    return (
        f"| {s.dimension.replace('_', ' ')} | {s.segment} | {s.sales} | {_shown(s.level, '.3f')} "
        f"| {_shown(s.cod, '.1f')} (≤ {s.cod_limit:g}) | {_shown(s.prd, '.3f')} | {_shown(s.prb, '.3f')} |"
    )


def ratio_study_section(study: RatioStudy) -> list[str]:
    levels = sorted({level for row in study.errors_by_group for level in row.coverage})
    return [
        "## Ratio study by segment",
        "",
        f"Source: {study.source} ({study.sales} sales). IAAO Standard on Ratio Studies: COD ≤ 15 (≤ 10 for "
        "newer, homogeneous segments), PRD 0.98-1.03, PRB -0.05 to 0.05, median ratio 0.90-1.10; 95 % "
        "bootstrap intervals; 'uncertain': outside the range, but the interval reaches it; no PRD or PRB within "
        "a value decile. See ratios/study.py.",
        "",
        "| dimension | segment | sales | median ratio | COD | PRD | PRB |",
        "|---|---|---|---|---|---|---|",
        *(_segment_row(s) for s in study.segments),
        "",
        "## Error and interval coverage by neighbourhood group",
        "",
        "| group | sales | median abs % error | RMSE ln(price) | " + " | ".join(f"{k} coverage" for k in levels) + " |",
        "|---|---|---|---|" + "---|" * len(levels),
        *(
            f"| {row.group} | {row.sales} | {row.median_abs_pct_error:.2f} % | {row.rmse_log:.4f} | "
            + " | ".join(f"{row.coverage[k]:.1f} %" if k in row.coverage else "" for k in levels)
            + " |"
            for row in study.errors_by_group
        ),
        "",
        "![ratio study](ratio_study.png)",
        "",
    ]


def kaggle_section(cv: dict[str, CVResult], rows: int) -> list[str]:
    return [
        "## Kaggle protocol: every sale condition, only houses over 4,000 sq ft dropped",
        "",
        f"5-fold CV RMSE of ln(price) on {rows} sales: the run's servable candidates and their blend.",
        "",
        "| candidate | CV RMSE | SE |",
        "|---|---|---|",
        *(f"| {name} | {r.rmse:.4f} | {r.se:.4f} |" for name, r in cv.items()),
        "",
    ]


def choices_section(choices: dict[str, dict[str, str]]) -> list[str]:
    keys = list(dict.fromkeys(k for made in choices.values() for k in made))
    return [
        "## Choices made inside each origin (nested)",
        "",
        "Each origin made these from its earlier sales alone; the served model made them from all sales.",
        "",
        "| | " + " | ".join(keys) + " |",
        "|---|" + "---|" * len(keys),
        *(f"| {name} | " + " | ".join(made.get(k, "") for k in keys) + " |" for name, made in choices.items()),
        "",
    ]


def _figure(table: dict[str, dict[str, float]], name: str, key: str, spec: str) -> str:
    return f"{table[name][key]:{spec}}" if key in table.get(name, {}) else ""


def _trained_on(name: str, row: dict[str, float]) -> str:
    if "first_year" not in row:
        return "all of the above"
    first, last = int(row["first_year"]), int(name) - 1
    return str(first) if first == last else f"{first} to {last}"


def _interval(bounds: tuple[float, float] | None, spec: str) -> str:
    return "" if bounds is None else f"{bounds[0]:{spec}} to {bounds[1]:{spec}}"


def write_report(
    folder: Path,
    run_id: str,
    cv: dict[str, CVResult],
    cv_metrics: dict[str, dict[str, float]],
    holdout_by_candidate: dict[str, dict[str, float]],
    selected: str,
    weights: dict[str, float],
    holdout: dict[str, float],
    coverage: dict[str, float],
    ci: dict[str, tuple[float, float]],
    year_ahead: dict[str, dict[str, float]],
    plots: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    kaggle_cv: dict[str, CVResult] | None = None,
    kaggle_rows: int = 0,
    study: RatioStudy | None = None,
    choices: dict[str, dict[str, str]] | None = None,
) -> Path:
    """Write ``report.md`` and the plots into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    price, predicted, neighborhood, residual = plots
    _plot_predicted(folder / "predicted_vs_actual.png", price, predicted)
    _plot_neighbourhoods(folder / "residuals_by_neighbourhood.png", neighborhood, residual)
    _plot_coverage(folder / "interval_coverage.png", year_ahead)
    levels = _interval_levels(year_ahead)
    if study is not None:
        _plot_ratio_study(folder / "ratio_study.png", study)
    lines = [
        f"# Training run {run_id}",
        "",
        "## Candidates: cross-validated RMSE of ln(price), and the 2010 holdout",
        "",
        "| candidate | CV RMSE | SE | folds | CV median abs % error | 2010 holdout RMSE | holdout median abs % error |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {name}{' (selected)' if name == selected else ''} | {r.rmse:.4f} | {r.se:.4f} | {len(r.fold_rmse)} "
            f"| {cv_metrics[name]['median_abs_pct_error']:.2f} % "
            f"| {_figure(holdout_by_candidate, name, 'rmse_log', '.4f')} "
            f"| {_figure(holdout_by_candidate, name, 'median_abs_pct_error', '.2f')} % |"
            for name, r in cv.items()
        ),
        "",
        "Blend weights: " + ", ".join(f"{k} {v:.3f}" for k, v in weights.items()),
        "",
        *(kaggle_section(kaggle_cv, kaggle_rows) if kaggle_cv else []),
        "## Nested test: the latest origin (every choice made from the sales before it)",
        "",
        "| metric | value | 95 % bootstrap interval |",
        "|---|---|---|",
        *(f"| {k} | {v:.4f} | {_interval(ci.get(k), '.4f')} |" for k, v in holdout.items()),
        "",
        "## Interval coverage on the nested test",
        "",
        "| nominal | empirical | 95 % bootstrap interval |",
        "|---|---|---|",
        *(f"| {k} | {v:.1f} % | {_interval(ci.get(k), '.1f')} |" for k, v in coverage.items()),
        "",
        "## Year-ahead checks (nested rolling origin)",
        "",
        "The whole recipe, its choices included, re-made on the sales before each year and scored on that "
        "year's sales. The last row before 'pooled' is the test.",
        "",
        "| predicted year | trained on | sales | RMSE ln(price) | median abs % error | "
        + " | ".join(f"{k} coverage" for k in levels)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(levels),
        *(
            f"| {name} | {_trained_on(name, row)} | {row['sales']:.0f} "
            f"| {_figure(year_ahead, name, 'rmse_log', '.4f')} "
            f"| {_figure(year_ahead, name, 'median_abs_pct_error', '.2f')} | "
            + " | ".join(f"{row[k]:.1f} %" for k in levels)
            + " |"
            for name, row in year_ahead.items()
        ),
        "",
        *(choices_section(choices) if choices else []),
        *(ratio_study_section(study) if study is not None else []),
        "![predicted vs actual](predicted_vs_actual.png)",
        "![residuals by neighbourhood](residuals_by_neighbourhood.png)",
        "![interval coverage](interval_coverage.png)",
        "",
    ]
    (folder / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return folder
