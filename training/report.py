"""The run report: a markdown table of every candidate and the holdout, plus three PNG plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from training.evaluate import CVResult


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
) -> Path:
    """Write ``report.md`` and the plots into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    price, predicted, neighborhood, residual = plots
    _plot_predicted(folder / "predicted_vs_actual.png", price, predicted)
    _plot_neighbourhoods(folder / "residuals_by_neighbourhood.png", neighborhood, residual)
    _plot_coverage(folder / "interval_coverage.png", year_ahead)
    levels = _interval_levels(year_ahead)
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
        "## Temporal holdout (trained on sales before 2010, tested on 2010 sales)",
        "",
        "| metric | value | 95 % bootstrap interval |",
        "|---|---|---|",
        *(f"| {k} | {v:.4f} | {_interval(ci.get(k), '.4f')} |" for k, v in holdout.items()),
        "",
        "## Interval coverage on the holdout",
        "",
        "| nominal | empirical | 95 % bootstrap interval |",
        "|---|---|---|",
        *(f"| {k} | {v:.1f} % | {_interval(ci.get(k), '.1f')} |" for k, v in coverage.items()),
        "",
        "## Year-ahead checks (rolling origin)",
        "",
        "The whole recipe re-fitted on the sales before each year and scored on that year's sales.",
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
        "![predicted vs actual](predicted_vs_actual.png)",
        "![residuals by neighbourhood](residuals_by_neighbourhood.png)",
        "![interval coverage](interval_coverage.png)",
        "",
    ]
    (folder / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return folder
