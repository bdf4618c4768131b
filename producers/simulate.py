"""Traffic simulator: realistic houses drawn from the training data, sent at a steady rate."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from infra.settings import Settings
from producers.client import ValuationClient
from schemas import PropertyFeatures

TICK_SECONDS = 0.05


@dataclass(frozen=True)
class SimulationOutcome:
    sent: int
    seconds: float
    answered: int

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def houses(seed: int) -> list[PropertyFeatures]:
    """Every training row as a PropertyFeatures (missing optional values take their defaults)."""
    from dataset.sales import load

    frame = load().features
    records: list[dict[Any, Any]] = frame.to_dict(orient="records")
    clean = [{k: v for k, v in r.items() if not (isinstance(v, float) and math.isnan(v))} for r in records]
    rows = [PropertyFeatures.model_validate(r) for r in clean]
    order = np.random.default_rng(seed).permutation(len(rows))
    return [rows[int(i)] for i in order]


async def simulate(
    settings: Settings, rate: float, duration: float, seed: int = 0, wait_seconds: float = 0.0
) -> SimulationOutcome:
    pool = houses(seed)
    rng = np.random.default_rng(seed)
    sent_ids: list[str] = []
    async with ValuationClient(settings, source="kafka") as client:
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < duration:
            due = int(rate * elapsed) - len(sent_ids)
            if due > 0:
                picks = [pool[int(i)] for i in rng.integers(0, len(pool), size=due)]
                sent_ids.extend(await client.submit(picks))
            await asyncio.sleep(TICK_SECONDS)
        seconds = time.monotonic() - started
        answered = 0
        if wait_seconds > 0 and sent_ids:
            answered = len(await client.wait(sent_ids, wait_seconds))
    return SimulationOutcome(sent=len(sent_ids), seconds=seconds, answered=answered)
