"""The shadow's cost from the paired rounds of several ``bench_shadow.py`` runs of the same code, pooled.

One run of 100 rounds bounds the p99 growth only to about ±5 points at this machine's spread;
the rounds of runs made with the same protocol (toggle, share and phase length) are pooled and
judged by the bench's own rule (``bench_shadow.paired_growth``: a 90 % Student-t interval of the
rounds' paired log ratios, met when its upper end is within ``TARGET_GROWTH``). Each round pairs
its two phases at the load of its own run (half of that run's measured maximum), so rounds of
runs on a faster or slower day pool as ratios, never as milliseconds.

Run: ``.venv/bin/python bench/pool_shadow.py RESULT.json RESULT.json ...``; writes
``bench/results/shadow_pooled.json`` and a plot of every round's growth, ``shadow_pooled.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.bench_rest import print_targets
from bench.bench_shadow import (
    INTERVAL_LEVEL,
    LATENCIES,
    REPO,
    RESULTS,
    TARGET_GROWTH,
    interval_text,
    paired_growth,
    verdicts,
)

POOLED = RESULTS.with_name("shadow_pooled.json")
PROTOCOL = ("toggle", "shadow_share", "phase_seconds")


def pool(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every run's rounds in one paired estimate per latency figure; the runs must share ``PROTOCOL``."""
    protocols = {name: tuple(run[key] for key in PROTOCOL) for name, run in runs.items()}
    if len(set(protocols.values())) != 1:
        raise ValueError(f"runs of different protocols cannot be pooled: {protocols}")
    alone = [r for run in runs.values() for r in run["rounds"]["alone"]]
    shadow = [r for run in runs.values() for r in run["rounds"]["shadow"]]
    growth = {key: paired_growth([r[key] for r in alone], [r[key] for r in shadow]) for key in LATENCIES}
    return {
        **dict(zip(PROTOCOL, next(iter(protocols.values())), strict=True)),
        "runs": [
            {
                "file": name,
                "rounds": len(run["rounds"]["alone"]),
                "half_load_rate": run["half_load_rate"],
                **{f"{key}_growth": run["growth"][key]["estimate"] for key in LATENCIES},
                **{f"{key}_high": run["growth"][key]["high"] for key in LATENCIES},
            }
            for name, run in runs.items()
        ],
        "rounds": len(alone),
        "growth": growth,
        "targets": verdicts(growth),
    }


def plot(runs: dict[str, dict[str, Any]], pooled: dict[str, Any], path: Path) -> None:
    """Each round's p50 and p99 growth, run after run, with the pooled estimate, its interval and the target."""
    fig, axes = plt.subplots(1, len(LATENCIES), figsize=(11, 3.8), sharey=True)
    for ax, key in zip(axes, LATENCIES, strict=True):
        start = 0
        for name, run in runs.items():
            growths = [
                100 * (s[key] / a[key] - 1)
                for a, s in zip(run["rounds"]["alone"], run["rounds"]["shadow"], strict=True)
            ]
            ax.scatter(range(start, start + len(growths)), growths, s=8, label=Path(name).stem)
            start += len(growths)
        g = pooled["growth"][key]
        ax.axhspan(
            100 * g["low"],
            100 * g["high"],
            color="tab:green",
            alpha=0.25,
            label=f"pooled {INTERVAL_LEVEL:.0%} interval",
        )
        ax.axhline(100 * g["estimate"], color="tab:green", label="pooled estimate")
        ax.axhline(100 * TARGET_GROWTH, color="tab:red", linestyle="--", label="target")
        ax.set_ylim(-60, 80)
        ax.set_title(f"{key}: {g['estimate']:+.1%} ({interval_text(g)})")
        ax.set_xlabel("round")
    axes[0].set_ylabel("shadow phase vs alone, %")
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("The champion's latency with the shadow scorer on, every paired round")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("results", nargs="+", type=Path, help="bench_shadow.py result files of the same protocol")
    args = parser.parse_args()
    runs = {str(path.resolve().relative_to(REPO)): json.loads(path.read_text()) for path in args.results}
    pooled = pool(runs)
    print(f"{'run':50}{'rounds':>8}{'p50':>9}{'p99':>9}")
    for run in pooled["runs"]:
        print(f"{run['file']:50}{run['rounds']:>8}{run['p50_ms_growth']:>+9.1%}{run['p99_ms_growth']:>+9.1%}")
    for key in LATENCIES:
        g = pooled["growth"][key]
        print(f"pooled {key} over {pooled['rounds']} rounds: {g['estimate']:+.1%} ({interval_text(g)})")
    print_targets(pooled["targets"])
    POOLED.write_text(json.dumps(pooled, indent=2))
    plot(runs, pooled, POOLED.with_suffix(".png"))
    print(f"wrote {POOLED} and {POOLED.with_suffix('.png')}")


if __name__ == "__main__":
    main()
