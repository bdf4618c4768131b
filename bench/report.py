"""One markdown report from every ``bench/results/*.json``: tables for each benchmark, plus plots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RESULTS = Path(__file__).resolve().parent / "results"
TITLES = {
    "model": "Model serving (pyfunc, in process)",
    "stream": "Streaming through Kafka vs in-process floor",
    "rest": "REST submit-and-poll vs synchronous baseline",
    "shadow": "The shadow challenger's cost on the champion's latency at half load",
    "shadow_replication": "The shadow's cost, the deciding run's replication",
    "shadow_100_rounds": "The shadow's cost, 100 rounds declared beforehand",
    "shadow_100_rounds_replication": "The shadow's cost, the 100-round run's replication",
    "shadow_pooled": "The shadow's cost, both 100-round runs pooled (the deciding figure)",
    "shadow_cpu": "The shadow scorer's own CPU per request, by stage, without contention",
    "shadow_share_50": "The shadow's cost at the default share (half the requests), 100 rounds declared beforehand",
    "shadow_alias": "The shadow's cost, by alias (the challenger removed for the alone phases)",
    "shadow_alias_share_25": "The shadow's cost, by alias, a quarter of the requests shadowed",
    "bulk": "Bulk files through Kafka vs the pyfunc called in process on the file",
    "bulk_workers_2": "Bulk files with two workers",
    "delivery": "Exactly-once against at-least-once delivery on three brokers",
    "dashboard": "Dashboard render times (10,000 results in Redis)",
    "startup": "make run on a fresh state: first valuation, full model, idle memory",
}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return str(value)


def _flat(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flat(value, f"{name}.")
        elif not (isinstance(value, list) and value and isinstance(value[0], dict)):
            yield name, value


def _tables(data: dict[str, Any]) -> Iterator[str]:
    """Scalars as one key/value table; each list of records as a table of its own."""
    rows = list(_flat(data))
    if rows:
        yield "| figure | value |\n| --- | --- |\n" + "\n".join(f"| {k} | {_cell(v)} |" for k, v in rows)
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            columns = list(dict.fromkeys(c for item in value for c in item))
            head = "| " + " | ".join(columns) + " |\n|" + " --- |" * len(columns)
            body = "\n".join("| " + " | ".join(_cell(item.get(c, "")) for c in columns) + " |" for item in value)
            yield f"**{key}**\n\n{head}\n{body}"


def _sweep_plot(data: dict[str, Any], path: Path) -> bool:
    sweep = data.get("sweep")
    if not (isinstance(sweep, list) and sweep and {"batch_max_records", "rows_per_second"} <= set(sweep[0])):
        return False
    points = sorted((s["batch_max_records"], s["rows_per_second"]) for s in sweep)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o")
    ax.set_xscale("log")
    ax.set_xlabel("batch_max_records")
    ax.set_ylabel("predictions / s")
    ax.set_title("Throughput vs batch size")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _rest_plot(data: dict[str, Any], path: Path) -> bool:
    """Throughput of both designs, and p50/p99 latency at each load they were measured at."""
    designs = [d for d in ("event_driven", "baseline") if isinstance(data.get(d), dict)]
    if len(designs) != 2:
        return False
    loads = [load for load in ("low_load", "half_load", "max") if all(load in data[d] for d in designs)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.bar(designs, [data[d]["max"]["rps"] for d in designs], color=["tab:blue", "tab:gray"])
    left.set_ylabel("max sustained requests / s")
    left.set_title("Throughput")
    width = 0.2
    for i, design in enumerate(designs):
        for j, quantile in enumerate(("p50_ms", "p99_ms")):
            offset = (i * 2 + j - 1.5) * width
            values = [data[design][load][quantile] for load in loads]
            right.bar([k + offset for k in range(len(loads))], values, width, label=f"{design} {quantile[:3]}")
    right.set_xticks(range(len(loads)), [load.replace("_", " ") for load in loads])
    right.set_yscale("log")
    right.set_ylabel("ms, submit until the result is readable")
    right.set_title("Latency by load")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def build(results: Path = RESULTS) -> Path:
    sections = ["# Benchmark report", "", "Produced by `make bench` on this machine; ratios come from one run."]
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text())
        name = path.stem
        title = TITLES.get(name, name)
        sections += ["", f"## {title}", "", f"Source: `bench/results/{path.name}`"]
        sections += ["", *(f"{table}\n" for table in _tables(data))]
        if _sweep_plot(data, results / f"{name}_sweep.png"):
            sections += [f"![throughput vs batch size]({name}_sweep.png)", ""]
        if _rest_plot(data, results / f"{name}_designs.png"):
            sections += [f"![event-driven vs synchronous baseline]({name}_designs.png)", ""]
        if (results / f"{name}.png").exists():  # a plot the benchmark drew itself
            sections += [f"![{title}]({name}.png)", ""]
    report = results / "REPORT.md"
    report.write_text("\n".join(sections) + "\n")
    return report
