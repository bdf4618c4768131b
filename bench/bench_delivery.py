"""Exactly-once against at-least-once delivery on a three-broker cluster: throughput and latency.

Starts its own three-node KRaft cluster (``infra.cluster``; replication factor 3, min.insync.replicas=2)
and Redis, trains a quick model in a temp folder, then for each mode runs one worker and measures:
- throughput: rows/s from the first produce of ``--rows`` requests until the last is answered in Redis;
- latency: requests paced at ``--rate`` per second for ``--seconds``; each one's time from submission
  until a ``read_committed`` reader of the results topic sees its result (in exactly-once mode that is
  when its batch's transaction commits), p50 and p99.
Run: ``.venv/bin/python bench/bench_delivery.py [--rows 20000] [--rate 200] [--seconds 20]``;
writes ``bench/results/delivery.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.bench_stream import isolated, make_requests, stream, worker_process
from infra import stack
from infra.cluster import start_cluster
from infra.settings import Settings
from schemas import PredictionRequest, PredictionResult, utc_now

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "delivery.json"
MODES = ("at_least_once", "exactly_once")


async def paced_latencies(settings: Settings, houses: list[PredictionRequest], rate: float) -> list[float]:
    """Seconds from each request's submission until a read_committed reader sees its result."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_servers, enable_auto_commit=False, isolation_level="read_committed"
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition(settings.results_topic, p)
            for p in consumer.partitions_for_topic(settings.results_topic) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)
        seen: dict[str, float] = {}

        async def read() -> None:
            while len(seen) < len(houses):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    now = time.time()
                    for record in records:
                        result = PredictionResult.model_validate_json(record.value)
                        seen.setdefault(result.request_id, now - result.timings.submitted_at.timestamp())

        reader = asyncio.create_task(read())
        started = time.monotonic()
        pending = []
        for i, request in enumerate(houses):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            fresh = request.model_copy(update={"submitted_at": utc_now()})
            pending.append(
                await producer.send(
                    settings.requests_topic, fresh.model_dump_json().encode(), key=fresh.request_id.encode()
                )
            )
        await asyncio.gather(*pending)
        await asyncio.wait_for(reader, 120)
        return list(seen.values())
    finally:
        await producer.stop()
        await consumer.stop()


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="Requests of the throughput run, per mode.")
    parser.add_argument("--rate", type=float, default=200.0, help="Requests per second of the latency run.")
    parser.add_argument("--seconds", type=float, default=20.0, help="Length of the latency run.")
    args = parser.parse_args()
    paced = int(args.rate * args.seconds)
    results: dict[str, dict[str, Any]] = {}

    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        root = Path(tmp)
        cache = REPO / ".state" / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        cluster = start_cluster(root / "cluster", 3, partitions=6, cache_dir=cache, heap="256m")
        redis_service = stack.start_redis(root, stack.free_port())
        try:
            base = Settings(
                kafka_bootstrap=cluster.bootstrap,
                kafka_replication_factor=3,
                kafka_min_insync_replicas=2,
                redis_url=f"redis://127.0.0.1:{redis_service.port}/0",
                state_dir=root / "state",
                worker_metrics_port=0,
                feed_maxlen=1_000,
                log_level="WARNING",
            )
            base.state_path.mkdir(parents=True, exist_ok=True)
            from training.pipeline import train

            print("training a quick model ...", flush=True)
            train(base, quick=True)
            for mode in MODES:
                rps, peak = stream(isolated(base, delivery=mode), make_requests(args.rows, f"t-{mode}"), root)
                settings = isolated(base, delivery=mode)
                with worker_process(settings, root / f"latency-{mode}.log"):
                    latencies = asyncio.run(paced_latencies(settings, make_requests(paced, f"l-{mode}"), args.rate))
                results[mode] = {
                    "rows_per_second": round(rps, 1),
                    "worker_peak_rss_mb": round(peak / 2**20, 1),
                    "paced_rate": args.rate,
                    "paced_requests": paced,
                    "p50_ms": round(percentile(latencies, 50) * 1000, 1),
                    "p99_ms": round(percentile(latencies, 99) * 1000, 1),
                }
                print(f"{mode}: {results[mode]}", flush=True)
        finally:
            cluster.stop()
            redis_service.stop()

    report = {
        "brokers": 3,
        "replication_factor": 3,
        "min_insync_replicas": 2,
        "rows": args.rows,
        "modes": results,
        "exactly_once_throughput_ratio": round(
            results["exactly_once"]["rows_per_second"] / results["at_least_once"]["rows_per_second"], 3
        ),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    print()
    print(f"{'mode':<16}{'rows/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for mode, row in results.items():
        print(f"{mode:<16}{row['rows_per_second']:>10,.0f}{row['p50_ms']:>10,.1f}{row['p99_ms']:>10,.1f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
