"""The shadow's cost: the champion's REST latency at half of the maximum load, without and with a
challenger scoring its share of the requests in shadow mode (``--share``).

Starts its own Kafka + Redis, trains a quick model into a temporary MLflow (the champion),
registers the same artifact again as the challenger, and runs one worker, the shadow scorer
(``python -m consumers --shadow``: its own process and consumer group, ``SCHED_IDLE`` and nice 19
on every thread) and the API (as ``bench_rest``). The maximum is measured once without a
challenger; then open loops at half of it alternate between the two sides, ``--rounds`` pairs.
The order alternates too (alone first in odd rounds, shadow first in even ones), so neither a
drift of the busy machine nor whatever a phase leaves to the next weighs on one side only.
Target: p50 and p99 grow by at most 10 %.

How the sides alternate (``--toggle``):

- ``pause`` (the default): the challenger is served throughout; "alone" stops the shadow scorer
  (SIGSTOP), "shadow" lets it go on (SIGCONT) and waits until its group has committed every request
  on the topic before the phase starts, so the phase measures the shadow's steady work, not a
  catch-up. The switch is instant, so the two phases of a pair are seconds apart and the machine's
  drift (its latency at the same load varied almost threefold between rounds a minute apart) weighs
  on a pair far less. Both phases include the worker's own shadow-mode work (one model time per
  batch, recorded in the background), which the ``alias`` design measured as nothing.
- ``alias``: the challenger's alias is removed and set again (the worker and the shadow scorer
  unload and load it at their next poll, no restart), so "alone" has no challenger at all; each
  switch waits for two model loads, and phases are a minute apart. Writes
  ``bench/results/shadow_alias.json``.

Each phase also reports the CPU milliseconds per request of every process (API, worker, shadow
scorer, Kafka, Redis and the load generator): where the shadow's cost lands.

Each round pairs its two phases, so the growth is estimated from the rounds' paired log ratios:
their mean, with a 90 % Student-t interval. The target counts as met only when the interval's
upper end is within it, which one noisy round cannot fake.

A shadow that did no work would cost nothing: each shadow phase also reports the requests the
shadow scorer scored during it, and its consumer lag at the phase's end (it may lag by design, and
catches up between phases).

Run: ``.venv/bin/python bench/bench_shadow.py``: the shadow scores the settings' default share of the
requests (``VALUESTREAM_SHADOW_SHARE``, half), and the run writes ``bench/results/shadow_share_50.json``.
``--share 1`` shadows every request and writes ``bench/results/shadow.json``; ``--share 0.25``,
``bench/results/shadow_share_25.json``.
``--quick`` (4 s phases, two rounds) is for iterating and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

import bench.bench_rest as rest  # noqa: E402
from consumers.shadow import shadow_group  # noqa: E402
from infra import stack  # noqa: E402
from infra.drain import drained  # noqa: E402
from infra.memory import freeze_long_lived  # noqa: E402
from infra.settings import Settings  # noqa: E402

RESULTS = REPO / "bench" / "results" / "shadow.json"
ROUNDS = {"pause": 16, "alias": 6}
PHASE_SECONDS = {"pause": 20.0, "alias": rest.OPEN_SECONDS}
"""Measured seconds of each phase (after ``rest.WARMUP_SECONDS``): pairs seconds apart need less each."""
CATCH_UP_SECONDS = 120.0
TARGET_GROWTH = 0.10
PHASE_ORDERS = (("alone", "shadow"), ("shadow", "alone"))
LATENCIES = ("p50_ms", "p99_ms")
"""The latency figures the budget applies to."""
INTERVAL_LEVEL = 0.90
POWER = 0.80
"""``rounds_for_power``: rounds a run would need for this chance of meeting the target if the shadow cost nothing."""


def challenger_served(metrics_url: str, version: str | None) -> bool:
    """Whether the worker's gauge says the challenger is ``version`` (None: no challenger)."""
    text = httpx.get(metrics_url, timeout=5).text
    line = next(
        (ln for ln in text.splitlines() if ln.startswith('valuestream_worker_variant_version{variant="challenger"}')),
        "",
    )
    served = line.rsplit(" ", 1)[-1] if line else "0.0"
    return float(served) == (float(version) if version else 0.0)


def metric_sum(metrics_url: str, name: str, labels: str = "") -> float:
    """The sum of a metric's samples whose label text contains ``labels`` (0 when none)."""
    total = 0.0
    for line in httpx.get(metrics_url, timeout=5).text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and labels in line:
            total += float(line.rsplit(" ", 1)[-1])
    return total


def wait_for(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not switch in time")
        time.sleep(0.5)


def paired_growth(alone: list[float], shadow: list[float]) -> dict[str, float]:
    """The growth from alone to shadow over paired rounds: estimate and ``INTERVAL_LEVEL`` interval.

    The rounds' log ratios are averaged, so a round at twice the latency weighs as a round at half.
    Also the rule's power at this spread: ``rounds_for_power``, how many rounds would give a shadow
    that costs nothing a ``POWER`` chance of an upper end within ``TARGET_GROWTH`` (normal
    approximation, from the rounds' own standard deviation of log ratios, ``sd_log_ratio``).
    """
    from scipy import stats

    logs = [math.log(s / a) for a, s in zip(alone, shadow, strict=True)]
    mean = statistics.fmean(logs)
    sd = statistics.stdev(logs) if len(logs) > 1 else math.inf
    spread = sd / math.sqrt(len(logs))
    t = float(stats.t.ppf(0.5 + INTERVAL_LEVEL / 2, max(1, len(logs) - 1)))
    z = float(stats.norm.ppf(0.5 + INTERVAL_LEVEL / 2)) + float(stats.norm.ppf(POWER))
    return {
        "estimate": math.exp(mean) - 1,
        "low": math.exp(mean - t * spread) - 1,
        "high": math.exp(mean + t * spread) - 1,
        "sd_log_ratio": sd,
        "rounds_for_power": math.ceil((z * sd / math.log1p(TARGET_GROWTH)) ** 2) if math.isfinite(sd) else math.inf,
    }


def verdicts(growth: dict[str, dict[str, float]]) -> dict[str, bool]:
    """Per latency figure, whether the growth's interval ends within ``TARGET_GROWTH`` (the rule)."""
    level = f"{INTERVAL_LEVEL:.0%} interval"
    return {
        f"{key} growth <= {TARGET_GROWTH:.0%} ({level}'s upper end)": g["high"] <= TARGET_GROWTH
        for key, g in growth.items()
    }


def interval_text(growth: dict[str, float]) -> str:
    return f"{growth['low']:+.1%} … {growth['high']:+.1%}"


def half_load(base_url: str, rate: float, seconds: float) -> dict[str, float]:
    with rest.collector_paused():
        return asyncio.run(rest.open_loop(base_url, rest.event_driven_call, rate, seconds))


def results_path(toggle: str, share: float) -> Path:
    name = "shadow" if toggle == "pause" else f"shadow_{toggle}"
    return RESULTS.with_name(f"{name}.json" if share == 1.0 else f"{name}_share_{round(share * 100)}.json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick", action="store_true", help="4 s phases and two rounds, for iterating (no results file)"
    )
    parser.add_argument(
        "--toggle",
        choices=sorted(ROUNDS),
        default="pause",
        help="pause: stop and resume the shadow scorer, the challenger served throughout; alias: remove and set it",
    )
    parser.add_argument("--rounds", type=int, default=None, help="paired rounds (default: 16 paused, 6 by alias)")
    parser.add_argument(
        "--share",
        type=float,
        default=Settings.model_fields["shadow_share"].default,
        help="VALUESTREAM_SHADOW_SHARE: the share of requests the shadow scores (default: the settings' default)",
    )
    args = parser.parse_args()
    rounds = ROUNDS[args.toggle] if args.rounds is None else args.rounds
    seconds = PHASE_SECONDS[args.toggle]
    if args.quick:
        rest.MAX_SECONDS = seconds = 4.0
        rest.WARMUP_SECONDS = 1.0
        rounds = 2

    workdir = Path(tempfile.mkdtemp(prefix="bench-shadow-"))
    cache = REPO / ".state" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    services: list[stack.Service] = []
    processes: list[subprocess.Popen[bytes]] = []
    phases: dict[str, list[dict[str, float]]] = {"alone": [], "shadow": []}
    try:
        kafka = stack.start_kafka(workdir, stack.free_port(), partitions=6, cache_dir=cache)
        services.append(kafka)
        redis_service = stack.start_redis(workdir, stack.free_port())
        services.append(redis_service)
        api_port, worker_port, shadow_port = stack.free_port(), stack.free_port(), stack.free_port()
        settings = rest.bench_settings(
            kafka,
            redis_service,
            workdir,
            api_port,
            # The alias design switches by moving an alias, so both processes poll the registry every
            # second; the paused one moves nothing after the start and polls at the default.
            **({"model_poll_seconds": 1.0} if args.toggle == "alias" else {}),
            rollout_mode="shadow",
            shadow_share=args.share,
        )
        print("training a quick model …")
        from registry.client import configure
        from registry.promotion import promote
        from training.pipeline import train

        champion = train(settings, quick=True).version
        client = configure(settings)
        source = client.get_model_version(settings.model_name, champion).source
        assert source is not None
        challenger = str(client.create_model_version(settings.model_name, source).version)
        freeze_long_lived()
        processes.append(
            rest.spawn(
                ["-m", "consumers", "--index", "0", "--metrics-port", str(worker_port)], settings, workdir / "w.log"
            )
        )
        processes.append(
            rest.spawn(["-m", "consumers", "--shadow", "--metrics-port", str(shadow_port)], settings, workdir / "s.log")
        )
        processes.append(rest.spawn(["-m", "api"], settings, workdir / "api.log"))
        base_api = f"http://127.0.0.1:{api_port}"
        metrics_url = f"http://127.0.0.1:{worker_port}/metrics"
        shadow_url = f"http://127.0.0.1:{shadow_port}/metrics"
        rest.wait_http(f"{base_api}/api/v1/health", ok=lambda r: r.status_code == 200)
        rest.wait_http(metrics_url)
        rest.wait_http(shadow_url)
        with rest.collector_paused():
            top = asyncio.run(rest.closed_loop(base_api, rest.event_driven_call))
        rate = max(1.0, top["rps"] / 2)
        print(f"max {top['rps']:.0f} req/s without a challenger; half load {rate:.0f} req/s")

        def serve_challenger(on: bool) -> None:
            if on:
                promote(settings, challenger, settings.challenger_alias)
            else:
                with contextlib.suppress(Exception):  # no alias to remove
                    client.delete_registered_model_alias(settings.model_name, settings.challenger_alias)
            version = challenger if on else None
            wait_for(lambda: challenger_served(metrics_url, version) and challenger_served(shadow_url, version))

        def pause_shadow(paused: bool) -> None:
            """Stop the shadow scorer, or let it go on and wait until it has scored every request sent."""
            processes[1].send_signal(signal.SIGSTOP if paused else signal.SIGCONT)
            if not paused:
                drained(settings, shadow_group(settings), timeout=CATCH_UP_SECONDS)

        if args.toggle == "pause":
            serve_challenger(True)

        def switch(phase: str) -> None:
            if args.toggle == "pause":
                pause_shadow(phase == "alone")
            else:
                serve_challenger(phase == "shadow")

        def shadow_scored() -> float:
            return metric_sum(shadow_url, "valuestream_shadow_records_total", 'outcome="scored"')

        pids = {
            "api": processes[2].pid,
            "worker": processes[0].pid,
            "shadow": processes[1].pid,
            "kafka": kafka.process.pid,
            "redis": redis_service.process.pid,
            "load generator": os.getpid(),
        }
        for round_ in range(rounds):
            for phase in PHASE_ORDERS[round_ % 2]:
                switch(phase)
                stopped = args.toggle == "pause" and phase == "alone"  # its metrics server is stopped too
                scored_before, cpu_before = 0.0 if stopped else shadow_scored(), rest.cpu_seconds(pids)
                result = half_load(base_api, rate, seconds)
                cpu_after = rest.cpu_seconds(pids)
                result |= {
                    f"cpu_ms_per_request_{name.replace(' ', '_')}": (cpu_after[name] - cpu_before[name])
                    * 1000
                    / max(1, result["ok"])
                    for name in pids
                }
                result["shadow_scored"] = 0.0 if stopped else shadow_scored() - scored_before
                if not stopped:
                    result["shadow_lag_at_end"] = metric_sum(shadow_url, "valuestream_shadow_consumer_lag")
                phases[phase].append(result)
                print(
                    f"  round {round_ + 1} {phase:6}: p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms; "
                    f"shadow scored {result['shadow_scored']:.0f}, lag {result.get('shadow_lag_at_end', 'stopped')}"
                )
    finally:
        if len(processes) > 1:
            processes[1].send_signal(signal.SIGCONT)  # a stopped process would not act on its SIGTERM
        for process in processes:
            stack.stop_process_group(process.pid, timeout=20.0, alive=lambda p=process: p.poll() is None)  # type: ignore[misc]
        for service in reversed(services):
            service.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    cpu_keys = [key for key in phases["alone"][0] if key.startswith("cpu_ms_per_request_")] if rounds else []
    summary = {
        phase: {key: statistics.median(r[key] for r in results) for key in (*LATENCIES, *cpu_keys)}
        for phase, results in phases.items()
    }
    growth = {
        key: paired_growth([r[key] for r in phases["alone"]], [r[key] for r in phases["shadow"]]) for key in LATENCIES
    }
    level = f"{INTERVAL_LEVEL:.0%} interval"
    power = f"rounds for {POWER:.0%} power"
    print(f"\n{'half load':12}{'alone':>10}{'shadow':>10}{'growth':>10}{level:>22}{power:>24}")
    for key in LATENCIES:
        g = growth[key]
        interval = interval_text(g)
        print(
            f"{key:12}{summary['alone'][key]:>10.1f}{summary['shadow'][key]:>10.1f}"
            f"{g['estimate']:>+10.1%}{interval:>22}{g['rounds_for_power']:>24}"
        )
    print(f"\n{'CPU ms per request':30}{'alone':>10}{'shadow':>10}")
    for key in cpu_keys:
        name = key.removeprefix("cpu_ms_per_request_")
        print(f"{name:30}{summary['alone'][key]:>10.2f}{summary['shadow'][key]:>10.2f}")
    targets = verdicts(growth)
    rest.print_targets(targets)
    if args.quick:
        return
    report = {
        "toggle": args.toggle,
        "phase_seconds": seconds,
        "shadow_share": args.share,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "max_rps_alone": top["rps"],
        "half_load_rate": rate,
        "rounds": phases,
        "median": summary,
        "growth": growth,
        "targets": targets,
    }
    results = results_path(args.toggle, args.share)
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(report, indent=2))
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
