"""Rolling accuracy from observed sale prices, per neighbourhood and model version.

Each segment keeps its newest ``WINDOW`` observations in a capped Redis list, so every API
replica computes the same figures; ``/metrics`` refreshes the gauges from Redis on a scrape.
"""

from __future__ import annotations

from prometheus_client import Gauge
from redis.asyncio import Redis

from schemas import PredictionResult
from schemas.feedback import AccuracyFigures
from schemas.rest_keys import RestKeys

WINDOW = 1_000
UNKNOWN = "unknown"
LABELS = ["neighborhood", "model_version"]
MAPE = Gauge("valuestream_model_feedback_mape", "Median absolute % error of recent feedback.", LABELS)
WITHIN_10 = Gauge("valuestream_model_feedback_within_10pct", "Share of recent prices within 10 % of the sale.", LABELS)
COVERAGE = Gauge(
    "valuestream_model_feedback_interval_coverage", "Share of recent sales inside the 90 % interval.", LABELS
)
TOTAL = Gauge("valuestream_model_feedback_total", "Feedback received, all time.", LABELS)


def observation(result: PredictionResult, sale_price: float) -> tuple[float, bool, bool]:
    """Absolute % error, within 10 %, inside the 90 % interval."""
    assert result.price is not None
    ape = abs(result.price - sale_price) / sale_price * 100
    ninety = next((i for i in result.intervals if round(i.level * 100) == 90), None)
    covered = ninety is not None and ninety.lower <= sale_price <= ninety.upper
    return ape, ape <= 10.0, covered


def export(fig: AccuracyFigures) -> None:
    labels = (fig.neighborhood, fig.model_version)
    MAPE.labels(*labels).set(fig.mape)
    WITHIN_10.labels(*labels).set(fig.within_10pct)
    COVERAGE.labels(*labels).set(fig.interval_coverage)
    TOTAL.labels(*labels).set(fig.total)


class Accuracy:
    def __init__(self, client: Redis, keys: RestKeys) -> None:
        self.client = client
        self.keys = keys

    async def record(self, neighborhood: str, version: str, observed: tuple[float, bool, bool]) -> AccuracyFigures:
        ape, within, covered = observed
        window_key = self.keys.feedback_window(neighborhood, version)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.lpush(window_key, f"{ape:.6f}|{int(within)}|{int(covered)}")
            pipe.ltrim(window_key, 0, WINDOW - 1)
            pipe.hincrby(self.keys.feedback_totals, f"{neighborhood}|{version}", 1)
            pipe.lrange(window_key, 0, -1)
            *_, total, window = await pipe.execute()
        fig = AccuracyFigures.from_window(neighborhood, version, [str(w) for w in window], int(total))
        export(fig)
        return fig

    async def refresh(self) -> list[AccuracyFigures]:
        """Every segment's figures from Redis into the gauges (called on a metrics scrape)."""
        totals = {str(k): int(v) for k, v in (await self.client.hgetall(self.keys.feedback_totals)).items()}
        segments = sorted(totals)
        async with self.client.pipeline(transaction=False) as pipe:
            for segment in segments:
                pipe.lrange(self.keys.feedback_window(*segment.split("|", 1)), 0, -1)
            windows = await pipe.execute()
        out = []
        for segment, window in zip(segments, windows, strict=True):
            neighborhood, version = segment.split("|", 1)
            fig = AccuracyFigures.from_window(neighborhood, version, [str(w) for w in window], totals[segment])
            export(fig)
            out.append(fig)
        return out
