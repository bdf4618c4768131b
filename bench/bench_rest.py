"""REST submit-and-poll vs a synchronous per-request baseline, same machine, same load.

Starts its own Kafka + Redis (``infra.stack``), trains a quick model into a temporary MLflow,
then runs one scoring worker and the API under uvicorn, and the baseline (a FastAPI app that
calls the same registered model in-process once per request) under uvicorn, on free ports.
For each design: the most requests/s sustained by a closed loop of concurrent clients, then
latency percentiles in an open loop at half of that rate and at a low rate. End-to-end
latency for the event-driven path is from submit until the result is readable (the API's
``wait`` long-poll answers as soon as the worker has written the result to Redis).

Run: ``.venv/bin/python bench/bench_rest.py``; prints a table, writes ``bench/results/rest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from infra import stack  # noqa: E402
from infra.settings import Settings, to_env  # noqa: E402

RESULTS = REPO / "bench" / "results" / "rest.json"
HOUSE: dict[str, Any] = {
    "gr_liv_area": 1656,
    "year_built": 1960,
    "neighborhood": "North_Ames",
    "lot_area": 31770,
    "longitude": -93.619754,
    "latitude": 42.054035,
}
CONCURRENCY = 64
MAX_SECONDS = 12.0
OPEN_SECONDS = 12.0
LOW_RATE = 5.0
MAX_REQUESTS = 20_000


# ---- the baseline: the simple synchronous design ---------------------------------------------


def serve_baseline(port: int) -> None:
    """A FastAPI app that scores each request in-process with the registered champion."""
    import mlflow
    import pandas as pd
    import uvicorn
    from fastapi import FastAPI

    from infra.settings import get_settings
    from schemas import FEATURE_NAMES, PropertyFeatures

    settings = get_settings()
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    model = mlflow.pyfunc.load_model(settings.champion_uri)
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        features = PropertyFeatures.model_validate(body["features"])
        frame = pd.DataFrame([features.model_dump()], columns=list(FEATURE_NAMES))
        row = model.predict(frame).iloc[0]
        return {"status": "done", "price": float(row["price"])}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---- load --------------------------------------------------------------------------------------

Call = Callable[[httpx.AsyncClient], Awaitable[bool]]


async def event_driven_call(client: httpx.AsyncClient) -> bool:
    response = await client.post("/api/v1/predict", params={"wait": 5}, json={"features": HOUSE})
    if response.status_code == 200:
        return bool(response.json()["status"] == "done")
    if response.status_code != 202:
        return False
    url = response.json()["status_url"]
    for _ in range(2000):  # rarely needed: the long-poll already waited
        body = (await client.get(url)).json()
        if body["status"] != "queued":
            return bool(body["status"] == "done")
        await asyncio.sleep(0.002)
    return False


async def baseline_call(client: httpx.AsyncClient) -> bool:
    response = await client.post("/predict", json={"features": HOUSE})
    return response.status_code == 200


async def timed(call: Call, client: httpx.AsyncClient, latencies: list[float], errors: list[int]) -> None:
    started = time.perf_counter()
    try:
        ok = await call(client)
    except httpx.HTTPError:
        ok = False
    if ok:
        latencies.append(time.perf_counter() - started)
    else:
        errors.append(1)


async def closed_loop(base_url: str, call: Call) -> dict[str, float]:
    """CONCURRENCY clients back to back for MAX_SECONDS: the sustained maximum."""
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        for _ in range(20):
            await call(client)  # warm-up
        deadline = time.perf_counter() + MAX_SECONDS

        async def user() -> None:
            while time.perf_counter() < deadline and len(latencies) < MAX_REQUESTS:
                await timed(call, client, latencies, errors)

        started = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(CONCURRENCY)))
        seconds = time.perf_counter() - started
    return {"rps": len(latencies) / seconds, "ok": len(latencies), "errors": len(errors), **percentiles(latencies)}


async def open_loop(base_url: str, call: Call, rate: float, seconds: float) -> dict[str, float]:
    """Arrivals at a fixed rate, whatever the answers do: latency under a given load."""
    latencies: list[float] = []
    errors: list[int] = []
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        for _ in range(10):
            await call(client)
        tasks = []
        started = time.perf_counter()
        count = int(rate * seconds)
        for i in range(count):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(timed(call, client, latencies, errors)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return {"rate": rate, "achieved_rps": len(latencies) / elapsed, "ok": len(latencies), "errors": len(errors)} | (
        percentiles(latencies)
    )


def percentiles(latencies: list[float]) -> dict[str, float]:
    if len(latencies) < 2:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000}


# ---- orchestration -------------------------------------------------------------------------------


def wait_http(url: str, timeout: float = 120.0, ok: Callable[[httpx.Response], bool] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if ok is None or ok(response):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready in {timeout} s")


def spawn(args: list[str], settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env=os.environ | to_env(settings),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def measure(name: str, base_url: str, call: Call) -> dict[str, Any]:
    top = await closed_loop(base_url, call)
    half = await open_loop(base_url, call, max(1.0, top["rps"] / 2), OPEN_SECONDS)
    low = await open_loop(base_url, call, LOW_RATE, OPEN_SECONDS)
    print(
        f"  {name}: max {top['rps']:.0f} req/s; half-load p99 {half['p99_ms']:.1f} ms; low p50 {low['p50_ms']:.1f} ms"
    )
    return {"max": top, "half_load": half, "low_load": low}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve-baseline", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline)
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-rest-"))
    cache = REPO / ".state" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    services: list[stack.Service] = []
    processes: list[subprocess.Popen[bytes]] = []
    try:
        kafka = stack.start_kafka(workdir, stack.free_port(), partitions=6, cache_dir=cache)
        services.append(kafka)
        redis_service = stack.start_redis(workdir, stack.free_port())
        services.append(redis_service)
        api_port, baseline_port = stack.free_port(), stack.free_port()
        settings = Settings(
            kafka_bootstrap=kafka.address,
            redis_url=f"redis://127.0.0.1:{redis_service.port}/0",
            state_dir=workdir / "state",
            api_port=api_port,
            worker_metrics_port=0,
            rate_limit="1000000/second",
            log_level="WARNING",
        )
        settings.state_path.mkdir(parents=True, exist_ok=True)
        asyncio.run(
            stack.ensure_topics(
                settings.kafka_bootstrap,
                [settings.requests_topic, settings.results_topic, settings.dlq_topic],
                settings.kafka_partitions,
            )
        )
        print("training a quick model …")
        from training.pipeline import train

        version = train(settings, quick=True).version
        processes.append(spawn(["-m", "consumers", "--index", "0", "--metrics-port", "0"], settings, workdir / "w.log"))
        processes.append(spawn(["-m", "api"], settings, workdir / "api.log"))
        base_api = f"http://127.0.0.1:{api_port}"
        wait_http(f"{base_api}/api/v1/health", ok=lambda r: r.status_code == 200)
        print("event-driven (API → Kafka → worker → Redis):")
        event = asyncio.run(measure("event-driven", base_api, event_driven_call))
        processes.append(
            spawn(["bench/bench_rest.py", "--serve-baseline", str(baseline_port)], settings, workdir / "base.log")
        )
        base_sync = f"http://127.0.0.1:{baseline_port}"
        wait_http(f"{base_sync}/docs")
        print("synchronous baseline (model in the request):")
        baseline = asyncio.run(measure("baseline", base_sync, baseline_call))
    finally:
        for process in processes:
            stack.stop_process_group(process.pid, timeout=20.0, alive=lambda p=process: p.poll() is None)  # type: ignore[misc]
        for service in reversed(services):
            service.stop()

    ratio = event["max"]["rps"] / baseline["max"]["rps"] if baseline["max"]["rps"] else float("inf")
    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "model_version": version,
        "concurrency": CONCURRENCY,
        "event_driven": event,
        "baseline": baseline,
        "throughput_ratio": ratio,
        "targets": {
            "throughput_ratio >= 4": ratio >= 4,
            "event p99 at half load <= 100 ms": event["half_load"]["p99_ms"] <= 100,
            "event p50 at low load <= 25 ms": event["low_load"]["p50_ms"] <= 25,
        },
    }
    rows = [
        ("max sustained req/s", "max", "rps", "{:.0f}"),
        ("p50 at max (ms)", "max", "p50_ms", "{:.1f}"),
        ("p50 at half max (ms)", "half_load", "p50_ms", "{:.1f}"),
        ("p99 at half max (ms)", "half_load", "p99_ms", "{:.1f}"),
        (f"p50 at {LOW_RATE:.0f} req/s (ms)", "low_load", "p50_ms", "{:.1f}"),
        (f"p99 at {LOW_RATE:.0f} req/s (ms)", "low_load", "p99_ms", "{:.1f}"),
        ("errors (max/half/low)", None, None, None),
    ]
    print(f"\n{'':28}{'event-driven':>16}{'sync baseline':>16}")
    for label, phase, key, fmt in rows:
        if phase is None or key is None or fmt is None:
            cells = [
                "/".join(str(int(d[p]["errors"])) for p in ("max", "half_load", "low_load")) for d in (event, baseline)
            ]
        else:
            cells = [fmt.format(d[phase][key]) for d in (event, baseline)]
        print(f"{label:28}{cells[0]:>16}{cells[1]:>16}")
    print(f"{'throughput ratio':28}{ratio:>16.2f}")
    for target, met in report["targets"].items():  # type: ignore[union-attr]
        print(f"  {'met ' if met else 'MISSED'} {target}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
