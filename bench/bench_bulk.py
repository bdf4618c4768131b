"""Bulk files end to end against scoring the same file by hand, with memory and Redis per row.

Starts its own Kafka and Redis (``infra.stack``), trains a quick model in a temp folder, then for each
row count, in the same run, on the same CSV file and the same model:

- baseline: the registered pyfunc loaded in this process, ``predict`` and ``to_csv`` chunk by chunk;
- CLI: ``python -m producers ingest FILE --output ...`` (file to results file) with one worker;
- API: ``POST /api/v1/jobs`` upload of the same CSV gzipped (``.csv.gz``, compressed before the clock
  starts, as a client keeps it; the API's default upload cap), wait, ``GET /results`` download, with the
  same worker;

peak RSS of the worker, the CLI and the API, and the Redis bytes of a job per row.
Run: ``.venv/bin/python bench/bench_bulk.py [--rows 100000,1000000] [--workers N]``; writes
``bench/results/bulk.json`` (``bulk_workers_N.json`` with more than one worker).
Targets: CLI end to end >= 0.8x the baseline's rows/s with a worker per core (the baseline uses every
core; ``make bench`` runs one worker, then one per core); <= 300 B of Redis per row; every process's
peak RSS at the largest size within 20 % of the smallest.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import pandas as pd

from bench.bench_rest import cpu_seconds, spawn, wait_http
from bench.bench_stream import PeakRss, isolated
from infra import stack
from infra.settings import Settings
from state import State
from state.probe import heartbeats

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "bulk.json"
TARGET_RATIO = 0.8
TARGET_BYTES_PER_ROW = 300
TARGET_RSS_GROWTH = 0.2
BASELINE_CHUNK = 50_000


def write_file(rows: int, path: Path) -> None:
    """Real Ames houses repeated, each at coordinates of its own (so each row has a price of its own)."""
    from dataset.sales import load

    base = load().features
    frame = pd.concat([base] * (rows // len(base) + 1), ignore_index=True).iloc[:rows]
    frame["latitude"] = 42.0 + (frame.index % 100_000) * 5e-7
    frame["longitude"] = -93.65 + (frame.index // 100_000) * 1e-3
    frame.to_csv(path, index=False)


def gzip_file(path: Path) -> Path:
    """The CSV as ``.csv.gz`` next to it (gzip's default level), streamed."""
    target = path.with_name(f"{path.name}.gz")
    with path.open("rb") as source, gzip.open(target, "wb") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
    return target


def baseline(settings: Settings, version: str, path: Path, out: Path) -> tuple[float, float]:
    """Rows/s of what a user would do by hand: load the pyfunc, predict, write CSV, chunk by chunk;
    and the CPU seconds it took (every thread of this process).

    At the same detail as the job (``summary``: no contributions or comparables), so both do the same work."""
    from registry.loading import load_pyfunc

    started, cpu = time.perf_counter(), time.process_time()
    model = load_pyfunc(settings, version=version)
    rows = 0
    with out.open("w") as handle:
        for i, frame in enumerate(pd.read_csv(path, chunksize=BASELINE_CHUNK)):
            pd.DataFrame(model.predict(frame, params={"detail": "summary"})).to_csv(handle, header=i == 0, index=False)
            rows += len(frame)
    return rows / (time.perf_counter() - started), time.process_time() - cpu


def stop(process: subprocess.Popen[bytes]) -> None:
    stack.stop_process_group(process.pid, timeout=20.0, alive=lambda: process.poll() is None)
    process.wait()


def wait_for_worker(settings: Settings, worker: subprocess.Popen[bytes], log: Path, index: int = 0) -> None:
    deadline = time.monotonic() + 180
    while not heartbeats(settings.redis_url, settings.redis_prefix, f"worker-{index}@*"):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start:\n{stack.tail(log, 40)}")
        time.sleep(0.2)
    time.sleep(1.0)  # let the consumer join its group


def redis_bytes(settings: Settings, job_id: str) -> int:
    """Every key of one job (counters, compact answers, sent chunks)."""

    async def measure() -> int:
        store = State.connect(settings)
        try:
            return await store.jobs.bytes_held(job_id)
        finally:
            await store.close()

    return asyncio.run(measure())


def through_cli(settings: Settings, path: Path, root: Path, job_id: str) -> tuple[float, int, float]:
    """Rows/s from the CLI's start to its results file, its peak RSS and its CPU seconds."""
    out = root / f"{job_id}.results.csv"
    log = root / f"cli-{job_id}.log"
    started = time.perf_counter()
    cli = spawn(
        ["-m", "producers", "ingest", str(path), "--job-id", job_id, "--output", str(out), "--quiet"], settings, log
    )
    rss = PeakRss(cli.pid)
    code = cli.wait()
    seconds = time.perf_counter() - started
    peak = rss.stop()
    if code != 0:
        raise RuntimeError(f"ingest failed ({code}):\n{stack.tail(log, 40)}")
    return count_rows(out) / seconds, peak, rss.cpu_seconds


def count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def through_api(settings: Settings, path: Path, root: Path, job_id: str) -> tuple[float, int]:
    """Rows/s from the upload's start to the downloaded results file, and the API's peak RSS
    (``path`` is the gzip file)."""
    log = root / f"api-{job_id}.log"
    api = spawn(["-m", "api"], settings, log)
    rss = PeakRss(api.pid)
    url = f"http://127.0.0.1:{settings.api_port}/api/v1"
    try:
        wait_http(f"{url}/health/ready", timeout=120, ok=lambda r: r.status_code == 200)
        started = time.perf_counter()
        with path.open("rb") as handle:
            answer = httpx.post(
                f"{url}/jobs", files={"file": (path.name, handle)}, data={"job_id": job_id}, timeout=3600
            )
        if answer.status_code != 202:
            raise RuntimeError(f"upload refused: {answer.status_code} {answer.text[:300]}")
        while httpx.get(f"{url}/jobs/{job_id}", timeout=30).json()["state"] != "finished":
            time.sleep(0.25)
        out = root / f"{job_id}.api.csv"
        with (
            httpx.stream("GET", f"{url}/jobs/{job_id}/results?format=csv", timeout=3600) as response,
            out.open("wb") as f,
        ):
            for block in response.iter_bytes():
                f.write(block)
        seconds = time.perf_counter() - started
        return count_rows(out) / seconds, rss.stop()
    finally:
        rss.stop()
        stop(api)


def run_size(
    base: Settings, version: str, rows: int, root: Path, services: list[stack.Service], workers: int = 1
) -> dict[str, Any]:
    path = root / f"houses-{rows}.csv"
    write_file(rows, path)
    settings = isolated(base, workers=workers)  # the workers share the cores (`Settings.threads_per_worker`)
    baseline_rps, baseline_cpu = baseline(settings, version, path, root / f"baseline-{rows}.csv")
    print(f"{rows:,} rows: baseline {baseline_rps:,.0f} rows/s", flush=True)
    logs = [root / f"worker-{rows}-{i}.log" for i in range(workers)]
    pool = [
        spawn(["-m", "consumers", "--index", str(i), "--metrics-port", "0"], settings, log)
        for i, log in enumerate(logs)
    ]
    worker_rss = [PeakRss(w.pid) for w in pool]
    try:
        for i, (worker, log) in enumerate(zip(pool, logs, strict=True)):
            wait_for_worker(settings, worker, log, i)
        processes = {f"worker-{i}": w.pid for i, w in enumerate(pool)} | {s.name: s.process.pid for s in services}
        before = cpu_seconds(processes)
        cli_rps, cli_peak, cli_cpu = through_cli(settings, path, root, f"cli-{rows}")
        after = cpu_seconds(processes)
        used = {name: after[name] - before[name] for name in processes}
        cpu = {"cli": cli_cpu, "worker": sum(v for n, v in used.items() if n.startswith("worker-"))}
        cpu |= {s.name: used[s.name] for s in services}
        per_row = redis_bytes(settings, f"cli-{rows}") / rows
        print(f"{rows:,} rows: CLI {cli_rps:,.0f} rows/s, {per_row:.0f} B of Redis per row", flush=True)
        squeezed = gzip_file(path)
        api_rps, api_peak = through_api(settings, squeezed, root, f"api-{rows}")
        upload_mb = squeezed.stat().st_size / 2**20
        print(f"{rows:,} rows: API {api_rps:,.0f} rows/s ({upload_mb:,.0f} MB of gzip uploaded)", flush=True)
    finally:
        worker_peak = max(r.stop() for r in worker_rss)
        for worker in pool:
            stop(worker)
    path.unlink()
    squeezed.unlink()
    return {
        "rows": rows,
        "baseline_rows_per_second": round(baseline_rps, 1),
        "cli_rows_per_second": round(cli_rps, 1),
        "api_rows_per_second": round(api_rps, 1),
        "cli_to_baseline": round(cli_rps / baseline_rps, 3),
        "api_to_baseline": round(api_rps / baseline_rps, 3),
        "api_upload_mb": round(upload_mb, 1),
        "redis_bytes_per_row": round(per_row, 1),
        "cpu_us_per_row": {
            "baseline": round(baseline_cpu / rows * 1e6, 1),
            **{name: round(seconds / rows * 1e6, 1) for name, seconds in cpu.items()},
        },
        "peak_rss_mb": {
            "worker": round(worker_peak / 2**20, 1),
            "cli": round(cli_peak / 2**20, 1),
            "api": round(api_peak / 2**20, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000", help="Row counts, comma-separated, smallest first.")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes in the consumer group.")
    args = parser.parse_args()
    sizes = [int(s) for s in args.rows.split(",") if s]

    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
        root = Path(tmp)
        cache = REPO / ".state" / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        kafka = stack.start_kafka(root, stack.free_port(), partitions=6, cache_dir=cache)
        redis_service = stack.start_redis(root, stack.free_port())
        try:
            base = Settings(
                kafka_bootstrap=kafka.address,
                redis_url=f"redis://127.0.0.1:{redis_service.port}/0",
                state_dir=root / "state",
                worker_metrics_port=0,
                api_port=stack.free_port(),
                rate_limit="none",
                log_level="WARNING",
            )
            base.state_path.mkdir(parents=True, exist_ok=True)
            from training.pipeline import train

            print("training a quick model ...", flush=True)
            version = train(base, quick=True).version
            runs = [run_size(base, version, rows, root, [kafka, redis_service], args.workers) for rows in sizes]
        finally:
            kafka.stop()
            redis_service.stop()

    first, last = runs[0], runs[-1]
    # One size measures no growth: null, not a growth of 0.
    rss = first["peak_rss_mb"]
    growth = {p: last["peak_rss_mb"][p] / rss[p] - 1 for p in rss} if len(runs) > 1 else {}
    result = {
        "model_version": version,
        "runs": runs,
        "rss_growth_smallest_to_largest": {p: round(g, 3) for p, g in growth.items()} or None,
        "targets": {
            "cli_to_baseline": f">= {TARGET_RATIO}",
            "redis_bytes_per_row": f"<= {TARGET_BYTES_PER_ROW}",
            "rss_growth": f"<= {TARGET_RSS_GROWTH}",
        },
        "workers": args.workers,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    print()
    header = f"{'rows':>10}{'baseline/s':>12}{'CLI/s':>10}{'CLI/base':>10}{'API/s':>10}{'API/base':>10}"
    print(header + f"{'B/row':>8}{'worker MB':>11}{'CLI MB':>8}{'API MB':>8}")
    for r in runs:
        rss = r["peak_rss_mb"]
        print(
            f"{r['rows']:>10,}{r['baseline_rows_per_second']:>12,.0f}{r['cli_rows_per_second']:>10,.0f}"
            f"{r['cli_to_baseline']:>10.2f}{r['api_rows_per_second']:>10,.0f}{r['api_to_baseline']:>10.2f}"
            f"{r['redis_bytes_per_row']:>8.0f}{rss['worker']:>11,.0f}{rss['cli']:>8,.0f}{rss['api']:>8,.0f}"
        )
    print("\nCPU us per row during the CLI run (baseline: the whole in-process run)")
    names = list(runs[0]["cpu_us_per_row"])
    print(f"{'rows':>10}" + "".join(f"{n:>10}" for n in names) + f"{'CLI path':>10}")
    for r in runs:
        cpu = r["cpu_us_per_row"]
        path_total = sum(v for n, v in cpu.items() if n != "baseline")
        print(f"{r['rows']:>10,}" + "".join(f"{cpu[n]:>10.1f}" for n in names) + f"{path_total:>10.1f}")
    grown = ", ".join(f"{p} {g:+.0%}" for p, g in growth.items())
    print("RSS growth, smallest to largest: " + (grown or "one size only"))
    target = RESULTS if args.workers == 1 else RESULTS.with_name(f"bulk_workers_{args.workers}.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
