"""The shadow scorer's own CPU per request, without contention: ``ShadowScorer.handle`` on batches of
keyed request records whose final answers are in a real Redis, by stage.

The champion registered in the local state folder is loaded twice, the second time labelled as
another version, so it stands in for a challenger (the shadow scores only when the versions differ).
Each batch holds ``BATCH`` requests, about what one of the shadow's one-second gathers holds at the
REST benchmark's half load, and every request is shadowed (share 1); one batch in
``consumers.shadow.TIMED_EVERY`` is scored at full detail, as in the shadow scorer. The CPU is the
process's (every thread); each stage's is its own thread's:

- ``parse``: the records' requests (``consumers.parsing.single_request``);
- ``answers``: the stored answers' heads read back (``Predictions.heads``);
- ``model``: the other variant's valuations and the price differences (``VariantRouter.shadow``, in a thread);
- ``record``: the shadow answers and figures stored (``Rollout.save_shadows``, ``Rollout.record_batch``).

This is the work ``bench/bench_shadow.py`` shows as the shadow scorer's CPU per request, less the
Kafka consumer's share, and without the other processes' contention for caches and cores.

Run: ``.venv/bin/python bench/bench_shadow_cpu.py``; writes ``bench/results/shadow_cpu.json``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import consumers.shadow as shadow_module  # noqa: E402
from bench.bench_model import sample_houses  # noqa: E402
from consumers.model import ModelHolder  # noqa: E402
from consumers.recalibration import Recalibrator  # noqa: E402
from consumers.scoring import score  # noqa: E402
from consumers.shadow import ShadowScorer  # noqa: E402
from consumers.variants import VariantRouter  # noqa: E402
from infra import stack  # noqa: E402
from infra.blas import single_blas_thread  # noqa: E402
from infra.settings import Settings, get_settings  # noqa: E402
from schemas import ModelRef, PredictionRequest  # noqa: E402
from state import State  # noqa: E402
from tests.records import consumer_record  # noqa: E402

RESULTS = REPO / "bench" / "results" / "shadow_cpu.json"
BATCH = 374
BATCHES = 20
WARMUP_BATCHES = 2
RUNS = 3
STAGES = ("parse", "answers", "model", "record")
T = TypeVar("T")


class StageClock:
    """Each stage's CPU seconds on the thread that ran it."""

    def __init__(self) -> None:
        self.seconds: collections.defaultdict[str, float] = collections.defaultdict(float)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.thread_time()
        try:
            yield
        finally:
            self.seconds[name] += time.thread_time() - started

    def sync(self, name: str, call: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(call)
        def timed(*args: Any, **kwargs: Any) -> T:
            with self.stage(name):
                return call(*args, **kwargs)

        return timed

    def awaited(self, name: str, call: Callable[..., Awaitable[T]]) -> Callable[..., Coroutine[Any, Any, T]]:
        @functools.wraps(call)
        async def timed(*args: Any, **kwargs: Any) -> T:
            with self.stage(name):
                return await call(*args, **kwargs)

        return timed


def as_challenger(holder: ModelHolder) -> ModelHolder:
    """The holder's model labelled as another version, so the router treats it as a challenger."""
    loaded = holder.current
    ref = ModelRef(name=loaded.ref.name, version=f"{loaded.ref.version}0", variant="challenger")
    holder._current = dataclasses.replace(loaded, ref=ref)
    return holder


async def measure(settings: Settings, champion: ModelHolder, challenger: ModelHolder) -> list[dict[str, float]]:
    store = State.connect(settings)
    recalibrator = Recalibrator(store.calibration, settings.calibration_price_edges)
    router = VariantRouter(settings, champion, challenger, recalibrator)
    scorer = ShadowScorer(settings, router, store.predictions, store.rollout)
    clock = StageClock()
    shadow_module.single_request = clock.sync("parse", shadow_module.single_request)  # type: ignore[attr-defined]
    router.shadow = clock.sync("model", router.shadow)  # type: ignore[method-assign]
    scorer.answers = clock.awaited("answers", scorer.answers)  # type: ignore[method-assign]
    scorer.record = clock.awaited("record", scorer.record)  # type: ignore[method-assign]

    houses = sample_houses(BATCH)
    runs = []
    for run in range(RUNS):
        batches = []
        for b in range(WARMUP_BATCHES + BATCHES):
            requests = [
                PredictionRequest(request_id=f"run{run}-b{b}-r{i}", features=house) for i, house in enumerate(houses)
            ]
            await store.predictions.save_results(score(champion.current, requests))
            batches.append(
                tuple(
                    consumer_record(r.model_dump_json().encode(), r.request_id.encode(), offset=i)
                    for i, r in enumerate(requests)
                )
            )
        for records in batches[:WARMUP_BATCHES]:
            await scorer.handle(records)
        clock.seconds.clear()
        cpu = time.process_time()
        for records in batches[WARMUP_BATCHES:]:
            await scorer.handle(records)
        cpu_ms = (time.process_time() - cpu) * 1000
        requests_scored = BATCH * BATCHES
        sent = BATCH * (WARMUP_BATCHES + BATCHES)
        stored = [key async for key in store.client.scan_iter(store.keys.shadow(f"run{run}-*"))]
        if len(stored) != sent:  # a shadow that skipped requests would look cheap
            raise SystemExit(f"run {run}: {len(stored)} shadow answers stored, not {sent}")
        figures = {"cpu_ms_per_request": cpu_ms / requests_scored}
        figures |= {f"{stage}_ms_per_request": clock.seconds[stage] * 1000 / requests_scored for stage in STAGES}
        runs.append(figures)
    await store.close()
    return runs


def main() -> None:
    single_blas_thread()  # as in the shadow scorer
    with tempfile.TemporaryDirectory(prefix="vs-shadow-cpu-") as workdir:
        redis_service = stack.start_redis(Path(workdir), stack.free_port())
        try:
            redis_url = f"redis://127.0.0.1:{redis_service.port}/0"
            settings = get_settings().model_copy(update={"redis_url": redis_url, "shadow_share": 1.0})  # all scored
            champion, challenger = ModelHolder(settings), ModelHolder(settings, variant="challenger")
            champion.refresh()
            challenger.refresh()
            runs = asyncio.run(measure(settings, champion, as_challenger(challenger)))
        finally:
            redis_service.stop()
    keys = list(runs[0])
    result: dict[str, Any] = {
        "model": settings.champion_uri,
        "batch": BATCH,
        "batches_per_run": BATCHES,
        "runs": runs,
        "median": {key: round(statistics.median(r[key] for r in runs), 4) for key in keys},
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    width = max(len(k) for k in keys)
    print(f"{'ms per request':<{width}}  " + "  ".join(f"run {i + 1:>2}" for i in range(len(runs))) + "  median")
    for key in keys:
        print(f"{key:<{width}}  " + "  ".join(f"{r[key]:6.4f}" for r in runs) + f"  {result['median'][key]:.4f}")


if __name__ == "__main__":
    main()
