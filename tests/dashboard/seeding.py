"""Realistic results written through the real store (``Predictions.save_results``), for tests and the bench."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import date, timedelta

from infra.settings import Settings
from schemas.features import EXAMPLE_HOUSE, NEIGHBORHOODS, PropertyFeatures
from schemas.messages import ErrorInfo, ModelRef, PredictionRequest, PredictionResult, Source, Subject, Timings, utc_now
from schemas.valuation import Comparable, Contribution, Interval
from state import ANONYMOUS, State

SOURCES: tuple[Source, ...] = ("rest", "rest", "kafka", "batch", "file")
FEATURES = ("gr_liv_area", "overall_cond", "year_built", "neighborhood", "total_bsmt_sf", "garage_cars")


def fake_results(
    count: int, seed: int = 0, failed_every: int = 20, job_id: str | None = None
) -> list[PredictionResult]:
    rng = random.Random(seed)
    now = utc_now()
    results = []
    for i in range(count):
        submitted = now - timedelta(seconds=rng.uniform(0, 300))
        timings = Timings(
            submitted_at=submitted,
            scored_at=submitted + timedelta(milliseconds=rng.uniform(5, 80)),
            queue_ms=rng.uniform(1, 40),
            inference_ms=rng.uniform(1, 20),
        )
        base = PredictionResult(
            request_id=f"r{seed}-{i:06d}",
            job_id=job_id,
            row=i if job_id else None,
            source="file" if job_id else SOURCES[i % len(SOURCES)],
            status="failed",
            timings=timings,
        )
        if failed_every and i % failed_every == failed_every - 1:
            error = ErrorInfo(code="invalid_features", message="gr_liv_area: too small")
            results.append(base.model_copy(update={"error": error}))
            continue
        price = rng.lognormvariate(12.0, 0.35)
        hood = NEIGHBORHOODS[rng.randrange(20)]
        lon, lat = -93.64 + rng.gauss(0, 0.02), 42.03 + rng.gauss(0, 0.015)
        results.append(
            base.model_copy(
                update={
                    "status": "done",
                    "price": price,
                    "intervals": [
                        Interval(level=0.8, lower=price * 0.88, upper=price * 1.12),
                        Interval(level=0.9, lower=price * 0.84, upper=price * 1.17),
                    ],
                    "contributions": [Contribution(feature=f, value=rng.uniform(-15_000, 25_000)) for f in FEATURES],
                    "comparables": [
                        Comparable(
                            price=price * rng.uniform(0.85, 1.15),
                            distance_km=rng.uniform(0.05, 2.0),
                            sold=date(2009, rng.randint(1, 12), 1),
                            neighborhood=hood,
                            gr_liv_area=rng.randint(800, 2800),
                            year_built=rng.randint(1920, 2008),
                            longitude=lon + rng.gauss(0, 0.004),
                            latitude=lat + rng.gauss(0, 0.003),
                        )
                        for _ in range(5)
                    ],
                    "model": ModelRef(name="valuestream-price", version=str(1 + (i % 7 == 0))),
                    "subject": Subject(
                        neighborhood=hood,
                        gr_liv_area=rng.randint(800, 2800),
                        longitude=None if i % 5 == 0 else lon,
                        latitude=None if i % 5 == 0 else lat,
                    ),
                }
            )
        )
    return results


def save(settings: Settings, results: Sequence[PredictionResult], chunk: int = 2_000) -> None:
    async def write() -> None:
        store = State.connect(settings)
        try:
            for start in range(0, len(results), chunk):
                await store.predictions.save_results(results[start : start + chunk])
        finally:
            await store.close()

    asyncio.run(write())


def create_job(settings: Settings, job_id: str, total: int, age_seconds: float = 10.0) -> None:
    async def write() -> None:
        store = State.connect(settings)
        try:
            await store.jobs.create(job_id, total, "file", ANONYMOUS, utc_now() - timedelta(seconds=age_seconds))
        finally:
            await store.close()

    asyncio.run(write())


def save_owned(settings: Settings, owner: str, results: Sequence[PredictionResult]) -> None:
    """Results of single requests created by ``owner`` (as the API records them), through the real store."""

    async def write() -> None:
        store = State.connect(settings)
        try:
            requests = [
                PredictionRequest(request_id=r.request_id, features=PropertyFeatures(**EXAMPLE_HOUSE)) for r in results
            ]
            await store.predictions.accept(requests, owner)
            await store.predictions.save_results(results)
        finally:
            await store.close()

    asyncio.run(write())
