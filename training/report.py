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


def _plot_coverage(path: Path, coverage: dict[str, float]) -> None:
    fig, ax = plt.subplots(figsize=(5, 4))
    levels = list(coverage)
    ax.bar(levels, [coverage[k] for k in levels], color="tab:blue", label="empirical (holdout)")
    ax.scatter(levels, [float(k.rstrip("%")) for k in levels], color="black", zorder=3, label="nominal")
    ax.set(ylim=(50, 100), ylabel="coverage (%)", title="Interval coverage")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(
    folder: Path,
    run_id: str,
    cv: dict[str, CVResult],
    selected: str,
    weights: dict[str, float],
    holdout: dict[str, float],
    coverage: dict[str, float],
    plots: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> Path:
    """Write ``report.md`` and the plots into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    price, predicted, neighborhood, residual = plots
    _plot_predicted(folder / "predicted_vs_actual.png", price, predicted)
    _plot_neighbourhoods(folder / "residuals_by_neighbourhood.png", neighborhood, residual)
    _plot_coverage(folder / "interval_coverage.png", coverage)
    lines = [
        f"# Training run {run_id}",
        "",
        "## Cross-validated RMSE of ln(price)",
        "",
        "| candidate | CV RMSE | SE | folds |",
        "|---|---|---|---|",
        *(
            f"| {name}{' (selected)' if name == selected else ''} | {r.rmse:.4f} | {r.se:.4f} | {len(r.fold_rmse)} |"
            for name, r in cv.items()
        ),
        "",
        "Blend weights: " + ", ".join(f"{k} {v:.3f}" for k, v in weights.items()),
        "",
        "## Temporal holdout (trained on sales before 2010, tested on 2010 sales)",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {v:.4f} |" for k, v in holdout.items()),
        "",
        "## Interval coverage on the holdout",
        "",
        "| nominal | empirical |",
        "|---|---|",
        *(f"| {k} | {v:.1f} % |" for k, v in coverage.items()),
        "",
        "![predicted vs actual](predicted_vs_actual.png)",
        "![residuals by neighbourhood](residuals_by_neighbourhood.png)",
        "![interval coverage](interval_coverage.png)",
        "",
    ]
    (folder / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return folder
