"""Streaming throughput through Kafka against the in-process floor, a batch-size sweep, worker memory.

Starts its own Kafka and Redis (``infra.stack``) and trains its own quick model in a temp folder.
Run: ``.venv/bin/python bench/bench_stream.py [--rows 100000] [--sweep 50,200,500,1000]``;
writes ``bench/results/stream.json``. Target: streaming >= 35 % of the floor; worker RSS <= 1 GiB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from consumers.model import ModelHolder, features_frame
from consumers.scoring import score
from infra import stack
from infra.settings import Settings, to_env
from infra.topics import ensure_settings_topics
from schemas import PredictionRequest, PropertyFeatures, utc_now
from state import ANONYMOUS, State
from state.probe import heartbeats

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "stream.json"
TARGET_RATIO = 0.35
RSS_TARGET_MB = 1024


def make_requests(rows: int, job_id: str) -> list[PredictionRequest]:
    """Houses drawn from the training data (realistic mix), each a request of one job."""
    from dataset.sales import load

    sample = load().features.sample(rows, replace=True, random_state=0).to_dict("records")
    clean = [{k: (None if v != v else v) for k, v in row.items()} for row in sample]  # NaN -> None
    return [
        PredictionRequest(
            request_id=f"{job_id}-{i}",
            job_id=job_id,
            row=i,
            source="batch",
            features=PropertyFeatures.model_validate(row),
        )
        for i, row in enumerate(clean)
    ]


def isolated(base: Settings, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:8]
    settings = Settings(
        **(
            base.model_dump()
            | {
                "requests_topic": f"requests-{tag}",
                "results_topic": f"results-{tag}",
                "dlq_topic": f"dlq-{tag}",
                "consumer_group": f"workers-{tag}",
                "redis_prefix": f"b{tag}",
            }
            | overrides
        )
    )
    topics = [settings.requests_topic, settings.results_topic, settings.dlq_topic]
    asyncio.run(ensure_settings_topics(settings, topics))
    return settings


async def floor(settings: Settings, requests: list[PredictionRequest], batch: int) -> float:
    """Rows/s scored in-process in batches and written to Redis: no Kafka."""
    holder = ModelHolder(settings)
    holder.refresh()
    store = State.connect(settings)
    await store.jobs.create(requests[0].job_id or "", len(requests), "batch", ANONYMOUS, requests[0].submitted_at)
    started = time.perf_counter()
    for start in range(0, len(requests), batch):
        chunk = requests[start : start + batch]
        await store.predictions.save_results(score(holder.current, chunk, features_frame([r.features for r in chunk])))
    seconds = time.perf_counter() - started
    await store.close()
    return len(requests) / seconds


async def create_job(settings: Settings, job_id: str, total: int) -> None:
    store = State.connect(settings)
    try:
        await store.jobs.create(job_id, total, "batch", ANONYMOUS, utc_now())
    finally:
        await store.close()


async def answered(settings: Settings, job_id: str) -> int:
    store = State.connect(settings)
    try:
        job = await store.jobs.get(job_id)
    finally:
        await store.close()
    return 0 if job is None else job.done + job.failed


def cpu_by_pid(processes: list[psutil.Process]) -> dict[int, float]:
    """User plus system CPU seconds of each process."""
    return {p.pid: sum(p.cpu_times()[:2]) for p in processes}


class PeakRss:
    """Samples a process tree's resident memory in a thread, and its CPU seconds (user and system)
    since the sampler started, as last seen (a process that exits is seen up to 0.2 s before)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self.cpu_seconds = 0.0
        self._cpu_at_start = cpu_by_pid(self._tree())  # processes started later count from zero
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                tree = self._tree()
                self.peak = max(self.peak, sum(p.memory_info().rss for p in tree))
                cpu = cpu_by_pid(tree)
            except psutil.Error:
                return
            self.cpu_seconds = sum(seconds - self._cpu_at_start.get(pid, 0.0) for pid, seconds in cpu.items())

    def _tree(self) -> list[psutil.Process]:
        return [self.process, *self.process.children(recursive=True)]

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


async def produce(settings: Settings, requests: list[PredictionRequest]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    try:
        pending = [
            await producer.send(settings.requests_topic, r.model_dump_json().encode(), key=r.request_id.encode())
            for r in requests
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


@contextlib.contextmanager
def worker_process(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m consumers`` with ``settings``, once it is ready (heartbeat) and has joined its group."""
    log = log_path.open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "consumers", "--index", "0", "--metrics-port", "0"],
        cwd=REPO,
        env=os.environ | to_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not heartbeats(settings.redis_url, settings.redis_prefix, "worker-0@*"):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{stack.tail(log_path, 40)}")
            time.sleep(0.2)
        time.sleep(1.0)  # let the consumer join its group
        yield worker
    finally:
        stack.stop_process_group(worker.pid, timeout=20.0, alive=lambda: worker.poll() is None)
        worker.wait()


def stream(settings: Settings, requests: list[PredictionRequest], log_dir: Path) -> tuple[float, int]:
    """Rows/s from the first produce until the last result is in Redis, and the worker's peak RSS."""
    job_id = requests[0].job_id or ""
    asyncio.run(create_job(settings, job_id, len(requests)))
    log_path = log_dir / f"worker-{settings.batch_max_records}-{uuid.uuid4().hex[:6]}.log"
    with worker_process(settings, log_path) as worker:
        rss = PeakRss(worker.pid)
        try:
            started = time.perf_counter()
            asyncio.run(produce(settings, requests))
            while True:
                if asyncio.run(answered(settings, job_id)) >= len(requests):
                    break
                if worker.poll() is not None:
                    raise RuntimeError(f"worker died:\n{stack.tail(log_path, 40)}")
                time.sleep(0.05)
            seconds = time.perf_counter() - started
        finally:
            peak = rss.stop()
    return len(requests) / seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="Requests streamed (and scored for the floor).")
    parser.add_argument("--sweep", default="50,200,500,1000", help="Batch sizes of the sweep, comma-separated.")
    parser.add_argument("--sweep-rows", type=int, default=None, help="Requests per sweep point (default rows / 5).")
    parser.add_argument("--batch", type=int, default=500, help="Batch size of the main run and the floor.")
    args = parser.parse_args()
    sweep_rows = args.sweep_rows or max(1_000, args.rows // 5)

    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
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
                batch_max_records=args.batch,
                feed_maxlen=1_000,
                log_level="WARNING",
            )
            base.state_path.mkdir(parents=True, exist_ok=True)
            from training.pipeline import train

            print("training a quick model ...", flush=True)
            version = train(base, quick=True).version
            requests = make_requests(args.rows, "main")

            floor_rps = asyncio.run(floor(isolated(base), requests, args.batch))
            print(f"floor: {floor_rps:,.0f} rows/s", flush=True)
            stream_rps, peak = stream(isolated(base), requests, root)
            print(f"stream: {stream_rps:,.0f} rows/s, worker peak RSS {peak / 2**20:,.0f} MB", flush=True)

            sweep = []
            for size in (int(s) for s in args.sweep.split(",") if s):
                rps, size_peak = stream(
                    isolated(base, batch_max_records=size), make_requests(sweep_rows, f"s{size}"), root
                )
                sweep.append({"batch_max_records": size, "rows": sweep_rows, "rows_per_second": round(rps, 1)})
                peak = max(peak, size_peak)
                print(f"sweep batch={size}: {rps:,.0f} rows/s", flush=True)
        finally:
            kafka.stop()
            redis_service.stop()

    ratio = stream_rps / floor_rps
    result = {
        "rows": args.rows,
        "batch_max_records": args.batch,
        "model_version": version,
        "floor_rows_per_second": round(floor_rps, 1),
        "stream_rows_per_second": round(stream_rps, 1),
        "stream_to_floor": round(ratio, 3),
        "target_stream_to_floor": TARGET_RATIO,
        "worker_peak_rss_mb": round(peak / 2**20, 1),
        "target_worker_rss_mb": RSS_TARGET_MB,
        "sweep": sweep,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    print()
    print(f"{'measure':<34}{'value':>14}{'target':>14}")
    print(f"{'floor (in-process + Redis) rows/s':<34}{floor_rps:>14,.0f}{'':>14}")
    print(f"{'stream through Kafka rows/s':<34}{stream_rps:>14,.0f}{'':>14}")
    print(f"{'stream / floor':<34}{ratio:>14.1%}{f'>= {TARGET_RATIO:.0%}':>14}")
    print(f"{'worker peak RSS MB':<34}{peak / 2**20:>14,.0f}{f'<= {RSS_TARGET_MB}':>14}")
    for point in sweep:
        label = f"sweep batch {point['batch_max_records']} rows/s"
        print(f"{label:<34}{point['rows_per_second']:>14,.0f}{'':>14}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
