"""REST submit-and-poll vs a synchronous per-request baseline, same machine, same load.

Starts its own Kafka + Redis (``infra.stack``), trains a quick model into a temporary MLflow,
then runs one scoring worker and the API under uvicorn, and the baseline (a FastAPI app that
calls the same registered model in-process once per request) under uvicorn, on free ports.
For each design: the most requests/s sustained by a closed loop of concurrent clients, then
latency percentiles in an open loop at half of that rate and at a low rate (each open loop: 3 s of
unmeasured warm-up at its rate, then 30 s measured, so the p99 rests on ~100 answers or more).

The event-driven client is still submit-then-read-the-result, as a well-behaved client does
it: ``POST /api/v1/predict?wait=5`` (the read is done server-side by the API's feed waiter,
which answers 200 with the result as soon as the worker has written it to Redis), and only if
that answers 202 does it poll ``GET /api/v1/predictions/{id}``. End-to-end latency is from
submit until the client holds the result. The baseline is a plain POST returning the price.
Per phase it also records each process's CPU share during the max phase (1.0 = one core) and,
for the event-driven path, the worker's reported submit→worker and model-call times.

Run: ``.venv/bin/python bench/bench_rest.py``; prints a table, writes ``bench/results/rest.json``.
``--quick`` (4 s phases) and ``--only event|baseline`` are for iterating and write nothing;
``--profile DIR`` adds py-spy collapsed stacks of the API, worker and baseline at max load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402

from infra import stack  # noqa: E402
from infra.memory import freeze_long_lived  # noqa: E402
from infra.settings import Settings, to_env  # noqa: E402
from infra.topics import ensure_topics  # noqa: E402
from schemas.features import EXAMPLE_HOUSE  # noqa: E402

RESULTS = REPO / "bench" / "results" / "rest.json"
HOUSE: dict[str, Any] = EXAMPLE_HOUSE
CONCURRENCY = 64
MAX_SECONDS = 12.0
OPEN_SECONDS = 30.0
WARMUP_SECONDS = 3.0
LOW_RATE = 5.0
MAX_REQUESTS = 20_000


# ---- the baseline: the simple synchronous design ---------------------------------------------


def serve_baseline(port: int) -> None:
    """A FastAPI app that scores each request in-process with the registered champion."""
    import pandas as pd
    import uvicorn
    from fastapi import FastAPI

    from infra.settings import get_settings
    from registry.loading import load_pyfunc
    from schemas import FEATURE_NAMES, PropertyFeatures

    settings = get_settings()
    model = load_pyfunc(settings)
    app = FastAPI()
    freeze_long_lived()  # as the event-driven API and worker do, so neither design pays full collections

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        features = PropertyFeatures.model_validate(body["features"])
        frame = pd.DataFrame([features.model_dump()], columns=list(FEATURE_NAMES))
        row = cast(pd.DataFrame, model.predict(frame)).iloc[0]
        return {"status": "done", "price": float(row["price"])}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---- load --------------------------------------------------------------------------------------

Call = Callable[[aiohttp.ClientSession], Awaitable[bool]]


STAGES: list[tuple[float, float, float]] = []  # (queue_ms, inference_ms) the worker reported, client ms; per answer
MEASURED_FROM = [0.0]  # perf_counter from which answers count (the end of an open loop's warm-up)


class Failed(Exception):
    """An answer that is not a price: its reason is counted."""


def outcome(body: dict[str, Any]) -> bool:
    if body["status"] != "done":
        raise Failed(f"{body['status']}: {(body.get('error') or {}).get('code')}")
    return True


HOUSE_JSON = orjson.dumps({"features": HOUSE})
JSON_BODY = {"Content-Type": "application/json"}


async def send(client: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
    async with client.request(method, url, **kwargs) as response:
        return response.status, await response.read()


async def event_driven_call(client: aiohttp.ClientSession) -> bool:
    started = time.perf_counter()
    status, raw = await send(client, "POST", "/api/v1/predict?wait=5", data=HOUSE_JSON, headers=JSON_BODY)
    if status == 200:
        body = orjson.loads(raw)
        timings = body["timings"]
        if started >= MEASURED_FROM[0]:
            STAGES.append((timings["queue_ms"], timings["inference_ms"], (time.perf_counter() - started) * 1000))
        return outcome(body)
    if status != 202:
        raise Failed(f"HTTP {status} {raw[:80]!r}")
    url = orjson.loads(raw)["status_url"]
    for _ in range(600):  # rarely needed: the long-poll already waited
        body = orjson.loads((await send(client, "GET", url))[1])
        if body["status"] != "queued":
            return outcome(body)
        await asyncio.sleep(0.05)
    return False


async def baseline_call(client: aiohttp.ClientSession) -> bool:
    status, raw = await send(client, "POST", "/predict", data=HOUSE_JSON, headers=JSON_BODY)
    if status != 200:
        raise Failed(f"HTTP {status} {raw[:80]!r}")
    return True


async def timed(call: Call, client: aiohttp.ClientSession, latencies: list[float], errors: list[str]) -> None:
    started = time.perf_counter()
    failure = "not done"
    try:
        ok = await call(client)
    except (aiohttp.ClientError, TimeoutError) as exc:
        ok, failure = False, type(exc).__name__
    except Failed as exc:
        ok, failure = False, str(exc)
    if ok:
        latencies.append(time.perf_counter() - started)
    else:
        errors.append(failure)


@contextlib.asynccontextmanager
async def clients(base_url: str, count: int, connections: int) -> AsyncIterator[list[aiohttp.ClientSession]]:
    """``count`` clients of up to ``connections`` connections each. aiohttp, not httpx: the load
    generator shares the two cores with the system it measures, and httpx cost about twice the CPU
    per request (it had been the busiest process on the machine at maximum load)."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                aiohttp.ClientSession(
                    base_url=base_url,
                    connector=aiohttp.TCPConnector(limit=connections),
                    timeout=aiohttp.ClientTimeout(total=30),
                )
            )
            for _ in range(count)
        ]


async def closed_loop(base_url: str, call: Call) -> dict[str, float]:
    """CONCURRENCY clients back to back for MAX_SECONDS: the sustained maximum."""
    latencies: list[float] = []
    errors: list[str] = []
    async with clients(base_url, CONCURRENCY, 2) as pool:
        for client in pool:
            await call(client)  # warm-up: one connection each
        deadline = time.perf_counter() + MAX_SECONDS

        async def user(client: aiohttp.ClientSession) -> None:
            while time.perf_counter() < deadline and len(latencies) < MAX_REQUESTS:
                await timed(call, client, latencies, errors)

        started = time.perf_counter()
        await asyncio.gather(*(user(client) for client in pool))
        seconds = time.perf_counter() - started
    if errors:
        print(f"    errors at max: {dict(Counter(errors))}")
    return {"rps": len(latencies) / seconds, "ok": len(latencies), "errors": len(errors), **percentiles(latencies)}


async def open_loop(base_url: str, call: Call, rate: float, seconds: float) -> dict[str, float]:
    """Arrivals at a fixed rate, whatever the answers do: latency under a given load.

    The first ``WARMUP_SECONDS`` run at the same rate unmeasured, so the clients' connections are
    open and every process has settled at this load before the clock counts (the usual warm-up of
    a load test); the p99 is then read from ``seconds`` of steady arrivals."""
    latencies: list[float] = []
    errors: list[str] = []
    unmeasured: tuple[list[float], list[str]] = ([], [])
    async with clients(base_url, CONCURRENCY, 8) as pool:
        for client in pool[:10]:
            await call(client)
        tasks = []
        started = time.perf_counter()
        warmup = int(rate * WARMUP_SECONDS)
        MEASURED_FROM[0] = started + warmup / rate
        for i in range(warmup + int(rate * seconds)):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            into = unmeasured if i < warmup else (latencies, errors)
            tasks.append(asyncio.create_task(timed(call, pool[i % len(pool)], *into)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - MEASURED_FROM[0]
        MEASURED_FROM[0] = 0.0
    return {"rate": rate, "achieved_rps": len(latencies) / elapsed, "ok": len(latencies), "errors": len(errors)} | (
        percentiles(latencies)
    )


# Histograms read at half load, by family: how each sample's labels name its stage (None: not watched).
WATCHED: dict[str, Callable[[dict[str, str]], str | None]] = {
    "valuestream_worker_stage_seconds": lambda labels: labels.get("stage"),
    "valuestream_worker_end_to_end_seconds": lambda labels: "submitted_to_stored",
    "valuestream_api_request_seconds": lambda labels: (
        "api_server_predict" if labels.get("route") == "/api/v1/predict" and labels.get("method") == "POST" else None
    ),
}


def histogram_counts(metrics_urls: Sequence[str]) -> dict[str, dict[float, float]]:
    """Cumulative bucket counts of the watched histograms: {stage: {upper bound: count}}."""
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[str, dict[float, float]] = {}
    for url in metrics_urls:
        for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
            name_of = WATCHED.get(family.name)
            for sample in family.samples if name_of else ():
                stage = name_of(sample.labels) if name_of else None
                if stage and sample.name.endswith("_bucket"):
                    bucket = counts.setdefault(stage, {})
                    bound = float(sample.labels["le"])
                    bucket[bound] = bucket.get(bound, 0.0) + sample.value
    return counts


def stage_percentiles(
    before: dict[str, dict[float, float]], after: dict[str, dict[float, float]]
) -> dict[str, dict[str, float]]:
    """p50/p99 (ms) per stage between two scrapes, interpolated within histogram buckets."""
    result: dict[str, dict[str, float]] = {}
    for stage, buckets in after.items():
        bounds = sorted(buckets)
        cumulative = [buckets[b] - before.get(stage, {}).get(b, 0.0) for b in bounds]
        total = cumulative[-1] if cumulative else 0.0
        if total <= 0:
            continue
        cuts: dict[str, float] = {"count": total}
        for name, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
            rank, lower, below = q * total, 0.0, 0.0
            for bound, count in zip(bounds, cumulative, strict=True):
                if count >= rank:
                    upper = bound if bound != float("inf") else lower
                    share = (rank - below) / (count - below) if count > below else 1.0
                    cuts[name] = (lower + (upper - lower) * share) * 1000
                    break
                lower, below = bound, count
        result[stage] = cuts
    return result


def slowest_share(stages: list[tuple[float, float, float]]) -> dict[str, float]:
    """Where the slowest 1 % of answers spent their time (medians, ms): until the worker scored
    them (submit→worker + model), and the rest (the API before submitted_at, Redis save, waiter, HTTP)."""
    ranked = sorted(stages, key=lambda s: s[2])[-max(1, len(stages) // 100) :]
    return {
        "client_ms": statistics.median(c for _, _, c in ranked),
        "submit_to_worker_ms": statistics.median(q for q, _, _ in ranked),
        "model_ms": statistics.median(i for _, i, _ in ranked),
        "rest_ms": statistics.median(c - q - i for q, i, c in ranked),
    }


def print_targets(targets: dict[str, bool]) -> None:
    for target, met in targets.items():
        print(f"  {'met ' if met else 'MISSED'} {target}")


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


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time used so far by each process and its children (Kafka's JVM sits under a wrapper)."""
    used: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            root = psutil.Process(pid)
            total = 0.0
            family = [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
            for proc in family:
                times = proc.cpu_times()
                total += times.user + times.system
            used[name] = total
        except psutil.Error:
            used[name] = float("nan")
    return used


def start_spies(name: str, pids: dict[str, int], profile: Path | None) -> list[subprocess.Popen[bytes]]:
    """py-spy (raw collapsed stacks) on our Python processes for the length of the max phase."""
    if profile is None:
        return []
    profile.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")
    flags = ["-d", str(int(MAX_SECONDS) + 2), "-r", "200", "--format", "raw", "--nonblocking"]
    return [
        subprocess.Popen(
            [spy, "record", "-p", str(pid), *flags, "-o", str(profile / f"{name}-{proc_name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for proc_name, pid in pids.items()
        if proc_name in ("api", "worker", "baseline")
    ]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the load generator's own garbage collector out of a measured phase.

    It allocates steadily while measuring; a full collection then paused its event loop for up to
    100 ms, which counted against every request in flight (timeit switches the collector off for the same
    reason). Collected between phases instead.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


async def measure(
    name: str,
    base_url: str,
    call: Call,
    pids: dict[str, int],
    profile: Path | None = None,
    metrics_urls: Sequence[str] = (),
) -> dict[str, Any]:
    spies = start_spies(name, pids, profile)
    STAGES.clear()
    before, wall = cpu_seconds(pids | {"load generator": os.getpid()}), time.perf_counter()
    with collector_paused():
        top = await closed_loop(base_url, call)
    after, wall = cpu_seconds(pids | {"load generator": os.getpid()}), time.perf_counter() - wall
    if STAGES:
        top["worker_queue_ms_p50"] = statistics.median(q for q, _, _ in STAGES)
        top["worker_inference_ms_p50"] = statistics.median(i for _, i, _ in STAGES)
    top["cpu_share"] = {p: (after[p] - before[p]) / wall for p in after}  # type: ignore[assignment]
    for spy_process in spies:
        spy_process.wait()
    scraped = histogram_counts(metrics_urls)
    STAGES.clear()
    with collector_paused():
        half = await open_loop(base_url, call, max(1.0, top["rps"] / 2), OPEN_SECONDS)
    if len(STAGES) >= 100:
        half["slowest_1pct"] = slowest_share(STAGES)  # type: ignore[assignment]
    if metrics_urls:
        half["stages"] = stage_percentiles(scraped, histogram_counts(metrics_urls))  # type: ignore[assignment]
    with collector_paused():
        low = await open_loop(base_url, call, LOW_RATE, OPEN_SECONDS)
    shares = ", ".join(f"{p} {v:.0%}" for p, v in top["cpu_share"].items())  # type: ignore[attr-defined]
    print(
        f"  {name}: max {top['rps']:.0f} req/s; half-load p99 {half['p99_ms']:.1f} ms; low p50 {low['p50_ms']:.1f} ms"
    )
    print(f"    CPU at max (1.0 = one core): {shares}")
    if STAGES:
        print(
            f"    at max, per answer (p50): submit→worker {top['worker_queue_ms_p50']:.1f} ms, "
            f"model call {top['worker_inference_ms_p50']:.1f} ms, client p50 {top['p50_ms']:.1f} ms"
        )
    print(f"    half load {half['rate']:.0f} req/s: client p50 {half['p50_ms']:.1f} ms, p99 {half['p99_ms']:.1f} ms")
    if "slowest_1pct" in half:
        tail = half["slowest_1pct"]
        print(
            f"    slowest 1 % at half load (medians): client {tail['client_ms']:.0f} ms = submit→worker "  # type: ignore[index]
            f"{tail['submit_to_worker_ms']:.0f} + model {tail['model_ms']:.0f} + rest {tail['rest_ms']:.0f}"  # type: ignore[index]
        )
    if "stages" in half:
        stages = half["stages"].items()  # type: ignore[attr-defined]
        print(
            "    stages at half load (p50/p99 ms): "
            + ", ".join(
                f"{stage} {cut.get('p50_ms', float('nan')):.1f}/{cut.get('p99_ms', float('nan')):.1f}"
                for stage, cut in stages
            )
        )
    return {"max": top, "half_load": half, "low_load": low}


def bench_settings(
    kafka: stack.Service, redis_service: stack.Service, workdir: Path, api_port: int, **overrides: Any
) -> Settings:
    """The settings of a benchmark on its own Kafka and Redis, with the state folder and topics created."""
    settings = Settings(
        kafka_bootstrap=kafka.address,
        redis_url=f"redis://127.0.0.1:{redis_service.port}/0",
        state_dir=workdir / "state",
        api_port=api_port,
        worker_metrics_port=0,
        # No limit configured (no rate-limit round trip). Blank, not empty: the settings ignore
        # empty environment variables, so "" would reach the API as the 100/second default.
        rate_limit="none",
        log_level="WARNING",
        **overrides,
    )
    settings.state_path.mkdir(parents=True, exist_ok=True)
    asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap,
            [settings.requests_topic, settings.results_topic, settings.dlq_topic],
            settings.kafka_partitions,
        )
    )
    return settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve-baseline", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="4 s phases, for iterating (no results file)")
    parser.add_argument("--only", choices=("event", "baseline"), help="measure one design (no results file)")
    parser.add_argument("--profile", type=Path, help="py-spy the API and worker during the max phase into DIR")
    args = parser.parse_args()
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline)
        return
    global MAX_SECONDS, OPEN_SECONDS, WARMUP_SECONDS
    if args.quick:
        MAX_SECONDS = OPEN_SECONDS = 4.0
        WARMUP_SECONDS = 1.0

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
        api_port, baseline_port, worker_port = stack.free_port(), stack.free_port(), stack.free_port()
        settings = bench_settings(kafka, redis_service, workdir, api_port)
        print("training a quick model …")
        from training.pipeline import train

        version = train(settings, quick=True).version
        # The load generator itself must not stall: training left a large heap (MLflow, sklearn,
        # XGBoost), and a full collection of it paused every in-flight request's clock by 100+ ms.
        freeze_long_lived()
        processes.append(
            spawn(["-m", "consumers", "--index", "0", "--metrics-port", str(worker_port)], settings, workdir / "w.log")
        )
        processes.append(spawn(["-m", "api"], settings, workdir / "api.log"))
        base_api = f"http://127.0.0.1:{api_port}"
        wait_http(f"{base_api}/api/v1/health", ok=lambda r: r.status_code == 200)
        shared = {"kafka": kafka.process.pid, "redis": redis_service.process.pid}
        empty: dict[str, Any] = {}
        event = baseline = {p: {"rps": float("nan"), "errors": 0} | empty for p in ("max", "half_load", "low_load")}
        if args.only != "baseline":
            print("event-driven (API → Kafka → worker → Redis):")
            pids = shared | {"api": processes[1].pid, "worker": processes[0].pid}
            metrics = (f"http://127.0.0.1:{worker_port}/metrics", f"{base_api}/metrics")
            event = asyncio.run(measure("event-driven", base_api, event_driven_call, pids, args.profile, metrics))
        if args.only != "event":
            processes.append(
                spawn(["bench/bench_rest.py", "--serve-baseline", str(baseline_port)], settings, workdir / "base.log")
            )
            base_sync = f"http://127.0.0.1:{baseline_port}"
            wait_http(f"{base_sync}/docs")
            print("synchronous baseline (model in the request):")
            pids = shared | {"baseline": processes[-1].pid}
            baseline = asyncio.run(measure("baseline", base_sync, baseline_call, pids, args.profile))
    finally:
        for process in processes:
            stack.stop_process_group(process.pid, timeout=20.0, alive=lambda p=process: p.poll() is None)  # type: ignore[misc]
        for service in reversed(services):
            service.stop()
        shutil.rmtree(workdir, ignore_errors=True)  # Kafka's and Redis's data: tens of MB a run
    if args.quick or args.only:
        return

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
    print_targets(report["targets"])  # type: ignore[arg-type]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
